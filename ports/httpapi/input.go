package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/mux"
)

// Input hygiene at the boundary: what a client sends in a path, a query or a
// JSON string is checked here, once, before it reaches a command or a
// query. Postgres refuses NUL and invalid UTF-8 in text, so such bytes must
// never get that far: they would come back as a 500.

// idPrefixes maps a collection of the /v1 paths to the prefix of the ids
// the service mints for it (commands.Deps.NewID: "<prefix>_<uuid>"). A
// {id} after the collection must carry that prefix: another type's id is
// as unknown as a made-up one (404), and is answered without a lookup.
var idPrefixes = map[string]string{
	"assets":             "ast",
	"cuts":               "cut",
	"renders":            "rnd",
	"webhook-endpoints":  "whe",
	"webhook-deliveries": "whd",
	"api-keys":           "key",
	// tusd's stores name uploads (resumable.go checks them).
	"uploads": opaqueID,
}

// opaqueID marks a collection whose ids are not renderd's own.
const opaqueID = "-"

// maxIDTail bounds the part of an id after its prefix; minted ones carry a
// 36-character UUID.
const maxIDTail = 64

// wellFormedID reports whether id has the shape of an id minted with
// prefix: "<prefix>_" then 1 to 64 of [A-Za-z0-9-]. An empty prefix takes
// any lower-case one.
func wellFormedID(prefix, id string) bool {
	p, tail, ok := strings.Cut(id, "_")
	if !ok || (prefix != "" && p != prefix) || p == "" || len(tail) == 0 || len(tail) > maxIDTail {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 'a' || p[i] > 'z' {
			return false
		}
	}
	for i := 0; i < len(tail); i++ {
		c := tail[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// pathIDs lists the {variables} of a route's path with the id prefix each
// must carry: the prefix of the collection the variable follows ("" for a
// collection idPrefixes does not know: any well-formed id).
func pathIDs(path string) map[string]string {
	out := map[string]string{}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		name, ok := strings.CutPrefix(s, "{")
		if !ok {
			continue
		}
		name = strings.TrimSuffix(name, "}")
		if i > 0 && idPrefixes[segs[i-1]] != opaqueID {
			out[name] = idPrefixes[segs[i-1]]
		}
	}
	return out
}

// checkIDs answers 404, without calling h, a request whose path ids are
// not well formed for their route: invalid UTF-8, NUL, another type's id
// or anything else no id of the service looks like.
func checkIDs(path string, h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	ids := pathIDs(path)
	if len(ids) == 0 {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		vars := mux.Vars(r)
		for name, prefix := range ids {
			if !wellFormedID(prefix, vars[name]) {
				return errNotFound
			}
		}
		return h(w, r)
	}
}

// queryOf parses the request's query strictly: a malformed pair, or a name
// or value with invalid UTF-8 or a control character (NUL included), is
// 400 invalid_request naming the parameter. The gate runs it on every /v1
// request (middleware.go), so handlers read r.URL.Query(), which would
// otherwise drop what it cannot parse, knowing it is clean.
func queryOf(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("", "the query string is malformed: "+err.Error())
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names) // the first bad one, the same on every try
	for _, name := range names {
		if !cleanText(name) {
			return nil, badRequest("", "a query parameter's name holds invalid UTF-8 or a control character")
		}
		for _, v := range q[name] {
			if !cleanText(v) {
				return nil, badRequest(name, name+" holds invalid UTF-8 or a control character")
			}
		}
	}
	return q, nil
}

// cleanText reports whether s is valid UTF-8 without control characters.
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return false
		}
	}
	return true
}

// refuseNUL walks a decoded request body and refuses, with 400
// invalid_request naming the field ("output.format", "events[1]"), a
// string holding NUL or invalid UTF-8: Postgres stores neither in text or
// jsonb.
func refuseNUL(v reflect.Value, field string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return refuseNUL(v.Elem(), field)
	case reflect.String:
		s := v.String()
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			name := field
			if name == "" {
				name = "the body"
			}
			return badRequest(field, name+` must not hold NUL (\u0000) or invalid UTF-8`)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if err := refuseNUL(v.Field(i), join(field, name)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := refuseNUL(v.Index(i), fmt.Sprintf("%s[%d]", field, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			key := fmt.Sprint(iter.Key().Interface())
			if err := refuseNUL(iter.Key(), field); err != nil {
				return err
			}
			if err := refuseNUL(iter.Value(), join(field, key)); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(field, name string) string {
	if field == "" {
		return name
	}
	return field + "." + name
}
