import { AccessService } from '../access/index.js';
import type { Authority, Clock, Keys } from '../authority/index.js';
import { AttestationService, DeviceLogins, DeviceService } from '../devices/index.js';
import { HostnameService } from '../edge/admin/index.js';
import { PostureService } from '../posture/server.js';

/** The domain services of one control-plane node. */
export interface Services {
  hostnames: HostnameService;
  access: AccessService;
  devices: DeviceService;
  /** Identity registration: device logins approved by a user signing in (RFC 8628 style). */
  deviceLogins: DeviceLogins;
  posture: PostureService;
}

/**
 * Builds the services once, from the Authority: each gets the repositories it uses, the keys and
 * a clock (and the org CA's issuance where it issues certificates), never the Authority itself.
 * `serve` calls this where the server starts; CLI commands that act on one service do too.
 */
export function createServices(authority: Authority): Services {
  const { store } = authority;
  const now: Clock = () => authority.now();
  const keys: Keys = {
    sealKey: (pem, aad) => authority.sealKey(pem, aad),
    openKey: (sealed, aad) => authority.openKey(sealed, aad),
    derivedKey: (purpose) => authority.derivedKey(purpose),
  };
  const access = new AccessService({ store, keys, now });
  const devices = new DeviceService({
    store,
    now,
    orgId: authority.org.id,
    certificates: authority,
    serviceTokens: access,
    attestation: new AttestationService({ store, now }),
  });
  return {
    hostnames: new HostnameService({ store, keys, now, certificates: authority }),
    access,
    devices,
    deviceLogins: new DeviceLogins({ store, keys, now, devices }),
    posture: new PostureService({ store, now }),
  };
}
