package blob

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Open opens the blob store RENDERD_BLOB_URL names:
//
//   - file:///abs/path, file:relative/path, or a bare path (as the older
//     RENDERD_BLOB_DIR took): Local, in that folder;
//   - s3://bucket/prefix?endpoint=…&region=…&path_style=true: S3, the
//     query parameters all optional (endpoint: the server's http(s) base
//     URL, AWS itself without one; region: else AWS_REGION), credentials
//     from the AWS environment, and scratchDir for the process's local
//     copies. Its bucket must answer, so a misconfigured process fails at
//     start.
func Open(ctx context.Context, rawURL, scratchDir string) (Store, error) {
	loc, err := parseStoreURL(rawURL)
	if err != nil {
		return nil, err
	}
	if loc.s3 == nil {
		l, err := NewLocal(loc.dir)
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	if scratchDir == "" {
		return nil, errors.New("blob store: an s3 store needs a scratch folder")
	}
	c := *loc.s3
	c.ScratchDir = scratchDir
	return NewS3(ctx, c)
}

// CheckURL reports whether Open would take rawURL, without opening
// anything: a configuration check before a process starts.
func CheckURL(rawURL string) error {
	_, err := parseStoreURL(rawURL)
	return err
}

// LocalDir is the folder of a store URL naming a local one; local is false
// for an S3 store (and for a URL Open refuses).
func LocalDir(rawURL string) (dir string, local bool) {
	loc, err := parseStoreURL(rawURL)
	if err != nil || loc.s3 != nil {
		return "", false
	}
	return loc.dir, true
}

// storeLocation is a parsed store URL: a folder, or an S3 configuration.
type storeLocation struct {
	dir string
	s3  *S3Config
}

func parseStoreURL(raw string) (storeLocation, error) {
	bad := func(format string, args ...any) (storeLocation, error) {
		return storeLocation{}, fmt.Errorf("blob store URL %q: %s", raw, fmt.Sprintf(format, args...))
	}
	if raw == "" {
		return bad("empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("%v", err)
	}
	if u.Scheme != "file" && u.Scheme != "s3" && u.Scheme != "" {
		return bad("unknown scheme %q (file or s3)", u.Scheme)
	}
	if u.Fragment != "" || u.User != nil {
		return bad("no fragment or user information allowed (credentials come from the AWS environment)")
	}
	switch u.Scheme {
	case "":
		return storeLocation{dir: raw}, nil
	case "file":
		if u.RawQuery != "" || u.ForceQuery {
			return bad("a file URL takes no query parameters")
		}
		if u.Opaque != "" { // file:relative/path
			p, err := url.PathUnescape(u.Opaque)
			if err != nil {
				return bad("%v", err)
			}
			return storeLocation{dir: p}, nil
		}
		if u.Host != "" && u.Host != "localhost" {
			return bad("a file URL names no host (file:///abs/path)")
		}
		if !filepath.IsAbs(u.Path) {
			return bad("no path (file:///abs/path or file:relative/path)")
		}
		return storeLocation{dir: u.Path}, nil
	}
	// s3://bucket/prefix
	if u.Opaque != "" || u.Host == "" {
		return bad("no bucket (s3://bucket/prefix)")
	}
	if u.Port() != "" || !validBucket(u.Host) {
		return bad("bucket %q: 3 to 63 of a-z, 0-9, '.' and '-'", u.Host)
	}
	c := &S3Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	if c.Prefix != "" {
		if err := ValidateKey(c.Prefix); err != nil {
			return bad("prefix: %v", err)
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	for name, values := range q {
		if len(values) != 1 {
			return bad("query parameter %q given %d times", name, len(values))
		}
		v := values[0]
		switch name {
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.User != nil ||
				strings.Trim(e.Path, "/") != "" || e.RawQuery != "" || e.Fragment != "" {
				return bad("endpoint %q: want http(s)://host[:port]", v)
			}
			c.Endpoint = v
		case "region":
			if v == "" {
				return bad("empty region")
			}
			c.Region = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad("path_style %q: want true or false", v)
			}
			c.PathStyle = b
		default:
			return bad("unknown query parameter %q (endpoint, region, path_style)", name)
		}
	}
	return storeLocation{s3: c}, nil
}

// validBucket checks S3's bucket naming rules, loosely: what a URL can
// carry and S3 could accept.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 || strings.Trim(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		return false
	}
	first, last := b[0], b[len(b)-1]
	return first != '.' && first != '-' && last != '.' && last != '-'
}
