/**
 * Authentication: the one OIDC login flow (begin → the IdP → finish) for every purpose, an
 * application at the edge, the console and device approval. Who may then do what is decided
 * elsewhere (`decideAccess`, the admin allow-list, the device login), without I/O.
 */
export {
  type BeginLoginOptions,
  beginLogin,
  type FinishedLogin,
  finishLogin,
  type FinishLoginOptions,
  type LoginIdentity,
  type LoginIdp,
  loginIdp,
} from './flow.js';
export { LOGIN_PURPOSES, LOGIN_STATE_KEY, type LoginPurpose, purposeKey } from './purposes.js';
