#!/usr/bin/env node
// The `licensor-client` bin is bin/licensor-client.cjs (CommonJS: a faster start); this file keeps the older path
// working for scripts that call it.
import './licensor-client.cjs';
