// gaxios (google-auth-library's HTTP client) loads node-fetch v3, an ES module jest's CommonJS
// sandbox cannot load; under jest gaxios alone gets node-fetch-shim.js (Node's own fetch, the same
// wire protocol). Everyone else (the Kubernetes client's node-fetch v2) resolves as usual.
const { join, sep } = require('node:path');

module.exports = (request, options) => {
  if (request === 'node-fetch' && options.basedir.includes(`${sep}node_modules${sep}gaxios${sep}`)) return join(__dirname, 'node-fetch-shim.js');
  return options.defaultResolver(request, options);
};
