#!/usr/bin/env node
import { runPlugin } from "./cli/run-plugin.js";

process.exitCode = await runPlugin(process.argv.slice(2));
