package ffmpeg

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/renderd/renderd/domain"
)

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

func us(n int64) time.Duration { return time.Duration(n) * time.Microsecond }

func seg(start, end time.Duration) domain.Segment { return domain.Segment{Start: start, End: end} }

// testdata/silencedetect_*.log are ffmpeg 5.1's stderr for the arguments
// DetectSilences uses (-hide_banner -nostats -nostdin <InputArgs> -map 0:a:0
// -af silencedetect=noise=-35dB:d=<0.5|0.2> -f null -) over AAC m4a files made
// with aevalsrc: the gaps file is mediatest.WithSilences (3 s), the
// leading/trailing one is tone only 0.6–2.2 s of 3 s, all_silent is 2 s of
// zeros.
func TestKeptSegments_recorded_silencedetect_logs(t *testing.T) {
	tests := []struct {
		rule     string
		log      string
		duration time.Duration
		want     []domain.Segment
	}{
		{
			// silences.m4a (mediatest.WithSilences) with d=0.5: only the
			// 1.5–2.5 s gap is long enough.
			rule: "silences_shorter_than_the_minimum_are_kept", log: "silencedetect_gaps_d0.5.log",
			duration: 3 * time.Second,
			want:     []domain.Segment{seg(0, ms(1500)), seg(us(2500020), 3*time.Second)},
		},
		{
			rule: "every_long_enough_silence_is_cut", log: "silencedetect_gaps_d0.2.log",
			duration: 3 * time.Second,
			want:     []domain.Segment{seg(0, ms(800)), seg(us(1100020), ms(1500)), seg(us(2500020), 3*time.Second)},
		},
		{
			// Tone only 0.6–2.2 s; ffmpeg reports the trailing silence's end
			// at end of input, 3.008 s, past the 3.0 s duration.
			rule: "leading_and_trailing_silences_are_trimmed", log: "silencedetect_leading_trailing.log",
			duration: 3 * time.Second,
			want:     []domain.Segment{seg(us(600021), ms(2200))},
		},
		{
			rule: "all_silent_file_keeps_nothing", log: "silencedetect_all_silent.log",
			duration: 2 * time.Second,
			want:     []domain.Segment{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.log))
			if err != nil {
				t.Fatal(err)
			}
			got := keptSegments(parseSilenceLog(string(data)), tt.duration)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKeptSegments_edge_cases(t *testing.T) {
	tests := []struct {
		rule     string
		log      string
		duration time.Duration
		want     []domain.Segment
	}{
		{
			rule:     "no_silence_keeps_the_whole_file",
			log:      "size=N/A time=00:00:10.00 bitrate=N/A speed= 500x\n",
			duration: 10 * time.Second,
			want:     []domain.Segment{seg(0, 10*time.Second)},
		},
		{
			// Older ffmpegs never close a silence that runs into the end.
			rule: "trailing_silence_without_end_runs_to_the_duration",
			log: "[silencedetect @ 0x5600] silence_start: 1\n" +
				"[silencedetect @ 0x5600] silence_end: 2 | silence_duration: 1\n" +
				"[silencedetect @ 0x5600] silence_start: 8.5\n",
			duration: 10 * time.Second,
			want:     []domain.Segment{seg(0, time.Second), seg(2*time.Second, ms(8500))},
		},
		{
			rule: "kept_pieces_under_100ms_are_dropped",
			log: "[silencedetect @ 0x5600] silence_start: 1\n" +
				"[silencedetect @ 0x5600] silence_end: 2 | silence_duration: 1\n" +
				"[silencedetect @ 0x5600] silence_start: 2.099\n" +
				"[silencedetect @ 0x5600] silence_end: 3 | silence_duration: 0.901\n" +
				"[silencedetect @ 0x5600] silence_start: 3.1\n" +
				"[silencedetect @ 0x5600] silence_end: 4.0 | silence_duration: 0.9\n",
			duration: ms(4050),
			want:     []domain.Segment{seg(0, time.Second), seg(3*time.Second, ms(3100))},
		},
		{
			// AAC priming can put a start before zero.
			rule: "silence_before_zero_is_clamped",
			log: "[silencedetect @ 0x5600] silence_start: -0.0213333\n" +
				"[silencedetect @ 0x5600] silence_end: 0.5 | silence_duration: 0.521333\n",
			duration: 2 * time.Second,
			want:     []domain.Segment{seg(ms(500), 2*time.Second)},
		},
		{
			rule: "lines_from_other_filters_and_carriage_returns_are_ignored",
			log: "[Parsed_volumedetect_0 @ 0x1] silence_start: 0.2\r" +
				"[silencedetect @ 0x5600] silence_start: 1e+00\r\n" +
				"silence_end: 1.2\n" +
				"[silencedetect @ 0x5600] silence_end: 1.5 | silence_duration: 0.5",
			duration: 3 * time.Second,
			want:     []domain.Segment{seg(0, time.Second), seg(ms(1500), 3*time.Second)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got := keptSegments(parseSilenceLog(tt.log), tt.duration)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// ffmpeg's stderr arrives in arbitrary chunks.
func TestSilenceLog_lines_split_across_writes_are_joined(t *testing.T) {
	l := &silenceLog{tail: tailBuffer{limit: stderrTail}}
	text := "[silencedetect @ 0x5600] silence_start: 1.25\n[silencedetect @ 0x5600] silence_end: 2.5 | silence_duration: 1.25\n"
	for i := range len(text) {
		l.Write([]byte{text[i]})
	}
	l.flush()
	want := []silence{{start: ms(1250), end: ms(2500)}}
	if !slices.Equal(l.silences, want) {
		t.Errorf("got %+v, want %+v", l.silences, want)
	}
}
