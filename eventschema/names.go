package eventschema

import "strings"

// Wire names, one per domain event. They are part of the public contract:
// never rename one, add a new version instead (see the package doc).
const (
	AssetCreatedV1         = "asset.created.v1"
	AssetSourceUploadedV1  = "asset.source_uploaded.v1"
	AssetAudioUploadedV1   = "asset.audio_uploaded.v1"
	AssetProbedV1          = "asset.probed.v1"
	AssetPaymentRequiredV1 = "asset.payment_required.v1"
	AssetChargedV1         = "asset.charged.v1"
	AssetReadyV1           = "asset.ready.v1"
	AssetFailedV1          = "asset.failed.v1"
	AssetPartRefusedV1     = "asset.part_refused.v1"
	AssetDeletedV1         = "asset.deleted.v1"

	CutRequestedV1 = "cut.requested.v1"
	CutCompletedV1 = "cut.completed.v1"
	CutFailedV1    = "cut.failed.v1"
	CutDeletedV1   = "cut.deleted.v1"

	RenderRequestedV1     = "render.requested.v1"
	RenderStartedV1       = "render.started.v1"
	RenderProgressedV1    = "render.progressed.v1"
	RenderCompletedV1     = "render.completed.v1"
	RenderFailedV1        = "render.failed.v1"
	RenderCancelledV1     = "render.cancelled.v1"
	RenderRetriedV1       = "render.retried.v1"
	RenderOutputExpiredV1 = "render.output_expired.v1"
	RenderDeletedV1       = "render.deleted.v1"
)

// PublicType strips the version suffix from a wire name
// ("render.completed.v1" → "render.completed"). Webhook subscribers see only
// unversioned types, so that a new payload version does not force every
// subscriber to change its subscription. A name without a version suffix is
// returned unchanged.
func PublicType(wireName string) string {
	i := strings.LastIndexByte(wireName, '.')
	if i < 0 || !isVersion(wireName[i+1:]) {
		return wireName
	}
	return wireName[:i]
}

// isVersion reports whether s is "v" followed by one or more digits.
func isVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
