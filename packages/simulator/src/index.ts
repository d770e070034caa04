/**
 * @licensor/simulator — KooGallery on one laptop, for merchants and for the tests: the marketplace's open APIs
 * (`MarketplaceSimulator`), its signed calls to a production interface (`MarketplaceCaller`), the narrated
 * license-family stories, the dial test, and the `licensor simulate` command the server's CLI offers.
 * It plays the other side of the wire, so it depends on @licensor/shared only, never on the server.
 */
export * from './caller';
export * from './command';
export * from './dialTest';
export * from './ids';
export * from './marketplace';
export * from './scenarios';
