/**
 * The layers a service usually reads, in go-micro's order, in one place:
 * a file, then the environment, then the config centre in etcd.
 */
import { etcdCredentialsFromEnv } from "../registry/etcd-address.js";
import type { ConfigSource } from "./config.js";
import { envSource } from "./env-source.js";
import { etcdSource } from "./etcd-source.js";
import { fileSource } from "./file-source.js";

/** Options of serviceConfigSources. */
export interface ServiceConfigSourcesOptions {
  /** The service's registry name: etcd keys under `/micro/config/<service>/`, variables starting `<SERVICE>_`. */
  readonly service: string;
  /** A JSON or YAML file, the lowest layer; left out when not given. */
  readonly file?: string;
  /** A missing `file` is an empty layer instead of an error (for a default path the user may not have created). */
  readonly fileOptional?: boolean;
  /** Follow edits of the file too. Default false. */
  readonly watchFile?: boolean;
  /** The variables' prefix instead of `<SERVICE>_`. */
  readonly envPrefix?: string;
  /** The variables to read. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * etcd endpoints; when given, the service's keys in etcd are the top layer, watched. Its user is
   * the one they name (`app:PASSWORD@host:2379`), else ETCD_USERNAME and ETCD_PASSWORD of `env`.
   */
  readonly etcdAddresses?: readonly string[];
}

/**
 * `[file, env, etcd]` for `createConfig({ sources })`: the file (if any) <
 * variables `<SERVICE>_…` < etcd `/micro/config/<service>/` (if addresses
 * are given). Schema defaults fill what none of them sets.
 */
export function serviceConfigSources(options: ServiceConfigSourcesOptions): ConfigSource[] {
  const sources: ConfigSource[] = [];
  if (options.file)
    sources.push(
      fileSource(options.file, { optional: options.fileOptional ?? false, watch: options.watchFile ?? false }),
    );
  sources.push(
    envSource({
      prefix: options.envPrefix ?? envPrefixOf(options.service),
      ...(options.env ? { env: options.env } : {}),
    }),
  );
  if (options.etcdAddresses && options.etcdAddresses.length > 0) {
    const auth = etcdCredentialsFromEnv(options.env ?? process.env);
    sources.push(etcdSource({ addresses: options.etcdAddresses, service: options.service, ...(auth ? { auth } : {}) }));
  }
  return sources;
}

/** `user` → `USER_`, `go.micro.srv.user` → `GO_MICRO_SRV_USER_`. */
export function envPrefixOf(service: string): string {
  return `${service.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_`;
}
