/**
 * The edge's admin side: hostnames as the control plane manages them (create, update, delete,
 * server-certificate renewal). The API and the CLI import this; the data plane (../index.ts)
 * never does, so an edge worker does not load it. The client-auth model both sides share
 * (schemas, stored form) is exported from ../index.ts.
 */
export { type HostnameDeps, type HostnameInput, type HostnameRecord, HostnameService } from './hostnames.js';
