#!/usr/bin/env node
// Project scaffolding (`npx create-tsmicro user`) is not built yet; say so plainly instead of pretending.
process.stderr.write(
  "create-tsmicro: project scaffolding is not available in this version yet; see the README for what works now\n",
);
process.exitCode = 1;
