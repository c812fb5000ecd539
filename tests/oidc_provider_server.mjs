// panva's oidc-provider (Node) configured as a user of it would for client_credentials: its own
// routes (the token endpoint at /token), opaque access tokens (its default), its in-memory store.
// `node oidc_provider_server.mjs` with OIDC_DIR naming the folder npm installed it in and
// OIDC_CLIENTS a JSON list of client metadata; it listens on a free 127.0.0.1 port (port 0) and
// prints one JSON line, {"url": ...}, once it accepts connections. Driven by oidc_provider_server.py.
import { createRequire } from 'node:module';
import http from 'node:http';

const require = createRequire(process.env.OIDC_DIR + '/package.json');
const { default: Provider } = await import(require.resolve('oidc-provider'));
const clients = JSON.parse(process.env.OIDC_CLIENTS);
const scopes = [...new Set(clients.flatMap((client) => client.scope.split(' ')))];

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(url, {
    clients: clients.map((client) => ({
      grant_types: ['client_credentials'], redirect_uris: [], response_types: [], ...client,
    })),
    scopes,
    features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
    ttl: { ClientCredentials: 600 },
  });
  server.on('request', provider.callback());
  process.stdout.write(JSON.stringify({ url }) + '\n');
});
