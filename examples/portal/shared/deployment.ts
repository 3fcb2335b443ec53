// Where each piece of the demo is, as the launcher tells each process through its environment:
// the portal's origin (which the browser sees), the SSO's issuer identifier, and the resource
// indicators (RFC 8707) that name the key and data environments in access tokens' `aud`.

/** The deployment's public addresses. */
export interface Deployment {
  /** The portal's origin, e.g. `http://127.0.0.1:8080` (no trailing slash). */
  portal: string;
  /** The SSO's issuer identifier, e.g. `http://localhost:41234`. */
  issuer: string;
  /** The key environment's resource indicator: `<portal>/key-env`. */
  keyEnvironment: string;
  /** The data environment's resource indicator: `<portal>/data-env`. */
  dataEnvironment: string;
}

/** The portal's OAuth client id at the SSO. */
export const PORTAL_CLIENT_ID = 'portal';

/** The resource indicators of the two environments behind the portal's gateway. */
export function resourcesOf(portal: string): Pick<Deployment, 'keyEnvironment' | 'dataEnvironment'> {
  return { keyEnvironment: `${portal}/key-env`, dataEnvironment: `${portal}/data-env` };
}

/** Reads the deployment from `DEMO_PORTAL_URL` and `DEMO_ISSUER`. */
export function deploymentFromEnv(): Deployment {
  const portal = (process.env.DEMO_PORTAL_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const issuer = process.env.DEMO_ISSUER ?? 'http://localhost:0';
  return { portal, issuer, ...resourcesOf(portal) };
}
