// @peculiar/x509 resolves its internals through tsyringe, which needs the Reflect metadata API:
// load the polyfill first (ES modules evaluate their imports in order), then the library.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };
