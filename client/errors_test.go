package client

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestErrors_carry_the_APIs_code_field_and_request_id(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-42")
		switch r.URL.Path {
		case "/v1/renders":
			apiErr(w, http.StatusUnprocessableEntity, "validation_error", "unknown format", "output.format")
		case "/v1/assets/ast_gone":
			apiErr(w, http.StatusNotFound, "not_found", "no such resource", "")
		case "/v1/renders/rnd_1":
			apiErr(w, http.StatusConflict, "render_not_cancellable", "the render is completed", "")
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway\xff</html>"))
		}
	})
	ctx := t.Context()
	_, err := c.RequestRender(ctx, RequestRenderRequest{AssetID: "ast_1", Output: RenderOutputRequest{Format: "gif"}})
	var api *APIError
	if !errors.As(err, &api) || api.StatusCode != 422 || api.Code != "validation_error" || api.Field != "output.format" || api.RequestID != "req-42" {
		t.Fatalf("err %#v", err)
	}
	if api.Temporary() || ErrorCode(err) != "validation_error" {
		t.Fatalf("temporary %t, code %q", api.Temporary(), ErrorCode(err))
	}
	if want := "renderd: 422 validation_error (field output.format): unknown format"; err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}

	_, err = c.GetAsset(ctx, "ast_gone")
	if !IsNotFound(err) || ErrorCode(err) != "not_found" {
		t.Fatalf("err %v", err)
	}
	if err := c.CancelRender(ctx, "rnd_1"); ErrorCode(err) != "render_not_cancellable" || IsNotFound(err) {
		t.Fatalf("err %v", err)
	}

	// Not the API's shape (a proxy's page): no code, the body quoted as
	// valid UTF-8.
	_, err = c.GetCut(ctx, "cut_1")
	if !errors.As(err, &api) || api.StatusCode != 502 || api.Code != "" || !strings.HasPrefix(api.Message, "<html>bad gateway") {
		t.Fatalf("err %#v", err)
	}
	if ErrorCode(errors.New("plain")) != "" || IsNotFound(errors.New("plain")) {
		t.Fatal("a plain error has an API code")
	}
}

func TestDecodeError_without_a_body_says_the_status(t *testing.T) {
	e := decodeError(http.StatusRequestedRangeNotSatisfiable, http.Header{}, nil, nowForTest)
	if e.Code != "" || e.Message != "Requested Range Not Satisfiable" || e.Error() != "renderd: 416: Requested Range Not Satisfiable" {
		t.Fatalf("%#v %q", e, e.Error())
	}
	long := decodeError(500, http.Header{}, []byte(strings.Repeat("x", 1000)), nowForTest)
	if len(long.Message) != 200 {
		t.Fatalf("message of %d bytes", len(long.Message))
	}
}
