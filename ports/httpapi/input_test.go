package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestWellFormedID(t *testing.T) {
	for _, tc := range []struct {
		prefix, id string
		want       bool
	}{
		{"ast", "ast_0190a1b2-0000-7000-8000-000000000001", true},
		{"ast", "ast_1", true},
		{"", "key_1", true},
		{"ast", "rnd_0190a1b2-0000-7000-8000-000000000001", false}, // another type
		{"ast", "ast_", false},
		{"ast", "ast", false},
		{"ast", "", false},
		{"ast", "ast_\xff", false},
		{"ast", "ast_a\x00", false},
		{"ast", "ast_a b", false},
		{"ast", "ast_a.b", false},
		{"ast", "ast_" + strings.Repeat("a", 65), false},
		{"", "AST_1", false},
		{"", "_1", false},
	} {
		if got := wellFormedID(tc.prefix, tc.id); got != tc.want {
			t.Errorf("wellFormedID(%q, %q) = %v, want %v", tc.prefix, tc.id, got, tc.want)
		}
	}
}

// Every {id} of the document follows a collection whose id prefix the port
// knows, so a new route gets its type check by adding one line to
// idPrefixes.
func TestEveryDocumentedIDHasAKnownPrefix(t *testing.T) {
	for _, op := range oaLoad(t).Operations() {
		for name, prefix := range pathIDs(op.Path) {
			if name == "id" && prefix == "" {
				t.Errorf("%s %s: the collection before {id} has no entry in idPrefixes (input.go)", op.Method, op.Path)
			}
		}
	}
}

func TestQueryOf(t *testing.T) {
	for _, tc := range []struct {
		raw, field string
		ok         bool
	}{
		{"limit=2&cursor=abc", "", true},
		{"asset_id=%00", "asset_id", false},
		{"asset_id=%FF", "asset_id", false},
		{"state=a%0Ab", "state", false},
		{"%00=1", "", false},
		{"a=%zz", "", false},
		{"a=1;b=2", "", false},
		{"name=%C3%A9t%C3%A9", "", true},
	} {
		r := httptest.NewRequest("GET", "/v1/renders", nil)
		r.URL.RawQuery = tc.raw
		_, err := queryOf(r)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v, want ok = %v", tc.raw, err, tc.ok)
			continue
		}
		if err != nil {
			api := err.(*apiError)
			if api.status != http.StatusBadRequest || api.code != "invalid_request" || api.field != tc.field {
				t.Errorf("%q: %d %s field %q, want 400 invalid_request field %q", tc.raw, api.status, api.code, api.field, tc.field)
			}
		}
	}
}

// TestBadInputIsNeverA500 drives the real handlers (in-memory store) with
// the inputs that answered 500 live, and checks every answer against the
// document.
func TestBadInputIsNeverA500(t *testing.T) {
	o := oaLoad(t)
	h := oaServer(t, oaServerOpts{})
	asset := oaCreated(t, h, "video")
	for _, tc := range []struct {
		name         string
		e            oaExchange
		status       int
		code, field  string
		allowMethods string
	}{
		{"invalid_utf8_asset_id_is_404", oaExchange{method: "GET", path: "/v1/assets/%FF"}, 404, "not_found", "", ""},
		{"invalid_utf8_render_id_is_404", oaExchange{method: "GET", path: "/v1/renders/%FF/events"}, 404, "not_found", "", ""},
		{"nul_in_a_cut_id_is_404", oaExchange{method: "GET", path: "/v1/cuts/cut_1%00"}, 404, "not_found", "", ""},
		{"a_render_id_for_an_asset_is_404", oaExchange{method: "GET", path: "/v1/assets/rnd_1"}, 404, "not_found", "", ""},
		{"an_asset_id_for_a_render_is_404", oaExchange{method: "DELETE", path: "/v1/renders/" + asset}, 404, "not_found", "", ""},
		{"an_asset_id_for_an_endpoint_is_404", oaExchange{method: "POST", path: "/v1/webhook-endpoints/" + asset + "/rotate-secret"}, 404, "not_found", "", ""},
		{"nul_in_a_query_value_is_400", oaExchange{method: "GET", path: "/v1/renders?asset_id=%00"}, 400, "invalid_request", "asset_id", ""},
		{"invalid_utf8_in_a_cursor_is_400", oaExchange{method: "GET", path: "/v1/assets?cursor=%FF"}, 400, "invalid_request", "cursor", ""},
		{"nul_in_a_delivery_status_is_400", oaExchange{method: "GET", path: "/v1/webhook-endpoints/whe_1/deliveries?status=%00"}, 400, "invalid_request", "status", ""},
		{"nul_in_a_query_value_no_handler_reads_is_400", oaExchange{method: "GET", path: "/v1/assets/ast_1?x=%00"}, 400, "invalid_request", "x", ""},
		{"a_malformed_query_is_400", oaExchange{method: "DELETE", path: "/v1/renders/rnd_1?a=%zz"}, 400, "invalid_request", "", ""},
		{"nul_in_a_download_query_is_400", oaExchange{method: "GET", path: "/v1/downloads/tok?x=%00", noAuth: true}, 400, "invalid_request", "x", ""},
		{"a_render_id_as_asset_filter_is_404", oaExchange{method: "GET", path: "/v1/renders?asset_id=rnd_1"}, 404, "not_found", "", ""},
		{"nul_in_an_asset_name_is_400", oaExchange{method: "POST", path: "/v1/assets", body: `{"kind":"video","name":"a\u0000b"}`}, 400, "invalid_request", "name", ""},
		{"nul_in_a_description_is_400", oaExchange{method: "POST", path: "/v1/webhook-endpoints", body: `{"url":"https://example.com/h","events":["render.completed"],"description":"\u0000"}`}, 400, "invalid_request", "description", ""},
		{"nul_in_an_event_is_400", oaExchange{method: "POST", path: "/v1/webhook-endpoints", body: `{"url":"https://example.com/h","events":["render.completed","x\u0000"]}`}, 400, "invalid_request", "events[1]", ""},
		{"nul_in_a_render_asset_id_is_400", oaExchange{method: "POST", path: "/v1/renders", body: `{"asset_id":"\u0000","output":{"format":"mp4"}}`}, 400, "invalid_request", "asset_id", ""},
		{"nul_in_an_output_format_is_400", oaExchange{method: "POST", path: "/v1/renders", body: `{"asset_id":"` + asset + `","output":{"format":"mp4\u0000"}}`}, 400, "invalid_request", "output.format", ""},
		{"a_cut_id_as_render_asset_is_404", oaExchange{method: "POST", path: "/v1/renders", body: `{"asset_id":"cut_1","output":{"format":"mp4"}}`}, 404, "not_found", "", ""},
		{"auto_and_empty_segments_is_422", oaExchange{method: "POST", path: "/v1/assets/" + asset + "/cuts", body: `{"auto":{"remove_silence":{"min_silence":0.8,"threshold_db":-35}},"segments":[]}`}, 422, "validation_error", "auto", ""},
		{"405_names_the_allowed_methods", oaExchange{method: "PATCH", path: "/v1/renders/rnd_1"}, 405, "method_not_allowed", "", "DELETE, GET"},
		{"405_on_a_collection", oaExchange{method: "DELETE", path: "/v1/assets"}, 405, "method_not_allowed", "", "GET, POST"},
		{"405_on_downloads", oaExchange{method: "POST", path: "/v1/downloads/tok", noAuth: true}, 405, "method_not_allowed", "", "GET, HEAD"},
		{"405_on_health", oaExchange{method: "DELETE", path: "/healthz", noAuth: true}, 405, "method_not_allowed", "", "GET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.e.do(t, h)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"code":"`+tc.code+`"`) {
				t.Fatalf("%s %s = %d %s, want %d %s", tc.e.method, tc.e.path, rec.Code, rec.Body, tc.status, tc.code)
			}
			if tc.field != "" && !strings.Contains(rec.Body.String(), `"field":"`+tc.field+`"`) {
				t.Errorf("body %s, want field %s", rec.Body, tc.field)
			}
			if got := rec.Header().Get("Allow"); got != tc.allowMethods {
				t.Errorf("Allow = %q, want %q", got, tc.allowMethods)
			}
			path, _ := url.PathUnescape(strings.Split(tc.e.path, "?")[0])
			if err := o.ValidateResponse(tc.e.method, path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes()); err != nil {
				t.Error(err)
			}
			if err := o.ValidateHeaders(tc.e.method, path, rec.Code, rec.Header()); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestValidateHeaders(t *testing.T) {
	o := oaLoad(t)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		status int
		header http.Header
		ok     bool
	}{
		{"a_405_with_allow", "PATCH", "/v1/assets", 405, http.Header{"Allow": {"GET, POST"}}, true},
		{"a_405_without_allow", "PATCH", "/v1/assets", 405, http.Header{}, false},
		{"a_405_with_a_malformed_allow", "PATCH", "/v1/assets", 405, http.Header{"Allow": {"get,post"}}, false},
		{"a_429_with_retry_after", "GET", "/v1/assets", 429, http.Header{"Retry-After": {"3"}, "Ratelimit-Policy": {`"reads";q=200;w=2`}}, true},
		{"a_work_limit_429", "POST", "/v1/renders", 429, http.Header{"Retry-After": {"30"}, "Ratelimit-Policy": {`"renders_queued";q=100`}, "Ratelimit": {`"renders_queued";r=0;t=30`}}, true},
		{"a_retry_after_of_zero", "GET", "/v1/assets", 429, http.Header{"Retry-After": {"0"}}, false},
		{"a_retry_after_that_is_no_number", "GET", "/v1/assets", 429, http.Header{"Retry-After": {"soon"}}, false},
		{"an_undocumented_status", "GET", "/v1/assets", 418, http.Header{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := o.ValidateHeaders(tc.method, tc.path, tc.status, tc.header); (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok = %v", err, tc.ok)
			}
		})
	}
}

// The gate refuses a bad query string on every /v1 route (queryOf), so
// every /v1 operation documents 400.
func TestEveryV1OperationDocumentsTheQueryCheck(t *testing.T) {
	for _, op := range oaLoad(t).Operations() {
		if strings.HasPrefix(op.Path, "/v1/") && !op.Planned && !slices.Contains(op.Statuses, "400") {
			t.Errorf("%s %s (%s) does not document 400 invalid_request (a query value with NUL, invalid UTF-8 or a control character)", op.Method, op.Path, op.ID)
		}
	}
}

func TestDecodeJSON_takes_the_JSON_media_type_only(t *testing.T) {
	for ct, ok := range map[string]bool{
		"":                                true, // curl -d without -H: the body decides
		"application/json":                true,
		"application/json; charset=utf-8": true,
		"Application/JSON":                true,
		"application/jsonx":               false,
		"application/json-patch+json":     false,
		"text/plain":                      false,
		"application/json; =":             false,
	} {
		r := httptest.NewRequest(http.MethodPost, "/v1/assets", strings.NewReader(`{}`))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		var dst struct{}
		err := decodeJSON(r, 1024, &dst)
		if ok != (err == nil) {
			t.Errorf("Content-Type %q: err = %v", ct, err)
		}
	}
}
