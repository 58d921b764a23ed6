package relay

// PublishAll is publishAll, for the unit tests of what a partial failure
// sends again.
var PublishAll = publishAll
