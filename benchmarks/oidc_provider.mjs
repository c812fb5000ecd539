// panva's oidc-provider (Node) as a client-credentials token endpoint on the reference server's
// path, for `make bench`: `node oidc_provider.mjs PORT`, with OIDC_DIR naming the folder where
// npm installed it. Opaque access tokens (its default), the demo client, its in-memory store.
import { createRequire } from 'node:module';
const require = createRequire(process.env.OIDC_DIR + '/package.json');
const { default: Provider } = await import(require.resolve('oidc-provider'));
const port = Number(process.argv[2]);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'demo-client', client_secret: 'demo-secret',
    grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
    token_endpoint_auth_method: 'client_secret_basic', scope: 'openid email profile inspect',
  }],
  scopes: ['openid', 'email', 'profile', 'inspect'],
  features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
  routes: { token: '/api/id/v1/auth/token' },
});
provider.listen(port, '127.0.0.1');
