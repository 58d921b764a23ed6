package domain

import "testing"

func TestScrubServerPaths(t *testing.T) {
	cases := []struct{ in, want string }{
		{"open /var/lib/renderd/blobs/x: no such file", "open a server path: no such file"},
		{"file:/tmp/render-1/filter: denied", "a server path: denied"},
		{"at:/var/lib/renderd/x/y failed", "at:a server path failed"},
		{"quoted `/srv/blobs/a/b` here", "quoted `a server path` here"},
		{"{/srv/blobs/a/b}", "{a server path}"},
		{"Could not write header (/proc/self/fd/4)", "Could not write header (a server path)"},
		{"'/tmp/a/b', \"/tmp/c/d\"", "'a server path', \"a server path\""},
		{"rate 30000/1001, N/A, 1/30", "rate 30000/1001, N/A, 1/30"},
		{"want 1.8s −50ms/+260.125ms", "want 1.8s −50ms/+260.125ms"},
		{"a relative dir/sub/file stays", "a relative dir/sub/file stays"},
		{"/single", "/single"},
		{"/two/parts", "a server path"},
	}
	for _, c := range cases {
		if got := ScrubServerPaths(c.in); got != c.want {
			t.Errorf("ScrubServerPaths(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
