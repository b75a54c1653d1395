// The title markers of the port's non-passing kinds, shared by harness.js and tally_reporter.js.
'use strict';
module.exports = { MARK: { deviation: ' — deviation: ', notApplicable: ' — not applicable: ', pending: ' — pending: ' } };
