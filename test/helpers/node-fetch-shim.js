// See jest-resolver.js: what gaxios gets for node-fetch under jest.
module.exports = { __esModule: true, default: (...args) => fetch(...args) };
