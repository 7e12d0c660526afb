// Types for scripts/postgres-cluster.mjs (imported by test/helpers/postgres.ts).

export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:PORT/gatehouse_test (or the requested database) */
  url: string;
  /** same cluster, database `postgres` */
  adminUrl: string;
  port: number;
  /** temp dir holding data/, sock/ and postgres.log; deleted by stop() */
  dir: string;
  logFile: string;
  stop(): Promise<void>;
  stopSync(): void;
  /** Stops the server, keeping its data (an outage). */
  pause(): Promise<void>;
  /** Starts a paused server again on the same port. */
  resume(): Promise<void>;
}

export function startPostgresCluster(opts?: {
  database?: string;
  log?: (msg: string) => void;
}): Promise<PostgresCluster>;

export function reapStaleClusters(): void;
