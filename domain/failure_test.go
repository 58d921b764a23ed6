package domain_test

import (
	"testing"

	"github.com/renderd/renderd/domain"
)

func TestRenderFailureMessage(t *testing.T) {
	tests := []struct {
		name, code, want string
	}{
		{"a_code_with_its_own_message", domain.FailureEncoderCrashed, "the render failed: the encoder stopped responding during three attempts"},
		{"a_source_failure_reads_as_the_render_s", domain.FailureSourceUnreadable, "the render failed: the source media could not be read"},
		{"another_code_is_spelled_out", domain.FailureMemoryLimitExceeded, "the render failed: memory limit exceeded"},
		{"an_unknown_code_is_spelled_out", "future_code", "the render failed: future code"},
		{"no_code_says_only_that_it_failed", "", "the render failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.RenderFailureMessage(tt.code); got != tt.want {
				t.Errorf("RenderFailureMessage(%q) = %q, want %q", tt.code, got, tt.want)
			}
		})
	}
}
