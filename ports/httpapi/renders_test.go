package httpapi

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/renderd/renderd/domain"
)

// An output field that is null is omitted; an explicit "" or 0 is not: the
// domain refuses it on its own field, like any value off its ladder.
func TestOutputRequest_explicit_empty_values_are_refused_on_their_field(t *testing.T) {
	for body, field := range map[string]string{
		`{"format":"mp4"}`: "",
		`{"format":"mp4","resolution":null,"video_bitrate":null}`:              "",
		`{"format":"mp3","audio_bitrate":null}`:                                "",
		`{"format":""}`:                                                        "output.format",
		`{"format":"mp4","resolution":""}`:                                     "output.resolution",
		`{"format":"mp4","video_bitrate":0}`:                                   "output.video_bitrate",
		`{"format":"mp3","audio_bitrate":0}`:                                   "output.audio_bitrate",
		`{"format":"m4a","video_bitrate":0}`:                                   "output.video_bitrate",
		`{"format":"mp4","resolution":"","video_bitrate":0,"audio_bitrate":0}`: "output.resolution",
	} {
		var o outputRequest
		if err := json.Unmarshal([]byte(body), &o); err != nil {
			t.Fatal(err)
		}
		err := o.spec().Validate()
		var ve *domain.ValidationError
		switch {
		case field == "" && err != nil:
			t.Errorf("%s: %v, want valid", body, err)
		case field != "" && (!errors.As(err, &ve) || ve.Field != field):
			t.Errorf("%s: %v, want a 422 on %s", body, err, field)
		}
	}
}
