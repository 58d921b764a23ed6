package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg/mediatest"
	"github.com/renderd/renderd/adapters/testenv"
	"github.com/renderd/renderd/ports/httpapi"
)

// hygieneEnv: renders stay pending (no encoding: the machine is shared);
// the fixtures complete one render per account themselves, for deliveries
// to a loopback receiver (opened as in webhookEnv). The rate limits leave
// room for the generated requests so they reach the handlers.
var hygieneEnv = []string{"RENDERD_ENCODER_RENDERS=false", "RENDERD_RATE_READS=1000/s,1000", "RENDERD_RATE_WRITES=1000/s,1000",
	"RENDERD_RATE_UPLOADS=1000/s,1000", "RENDERD_RATE_ANONYMOUS=1000/s,1000", "RENDERD_RATE_REDELIVER=1000/s,1000",
	"RENDERD_WEBHOOK_ALLOW=127.0.0.0/8,::1/128", "RENDERD_WEBHOOK_ALLOW_HTTP=true"}

// fixtures are one account's objects of every type, and another account's.
// delivery is a delivered delivery to a loopback receiver through
// deliveryEndpoint, and download the token of its render's output. What an
// operation consumes has spares, so the other operations keep their
// objects: spareEndpoints and keys (API keys; key is never among them) to
// delete, uploads (assets waiting for media, uploading first) to fill
// (audioUploads for the audio part), doomed (assets) to delete.
type fixtures struct {
	key, otherKey                 string
	asset, uploading, cut, render string
	endpoint, deliveryEndpoint    string
	delivery, download            string
	spareEndpoints, keys, uploads []string
	audioUploads                  []string
	doomed                        []string
	otherAsset, otherEndpoint     string
	otherDelivery, otherKeyID     string
	// Resumable uploads: assets for their creation, uploads begun (and
	// spares to delete), another account's upload.
	tusAssets, tusUploads, spareTusUploads []string
	otherUpload                            string
}

// ids lists the fixture ids by type, for ids of the wrong type.
func (f fixtures) ids() map[string]string {
	return map[string]string{"asset": f.asset, "cut": f.cut, "render": f.render, "endpoint": f.endpoint,
		"delivery": f.delivery, "key": f.keys[0]}
}

// others lists another account's ids by collection: each must be 404.
func (f fixtures) others() map[string]string {
	return map[string]string{"assets": f.otherAsset, "webhook-endpoints": f.otherEndpoint,
		"webhook-deliveries": f.otherDelivery, "api-keys": f.otherKeyID, "uploads": f.otherUpload}
}

func (s *service) hygieneFixtures() fixtures {
	s.t.Helper()
	f := fixtures{key: s.account(60), otherKey: s.account(60)}
	f.asset, f.otherAsset = s.newAsset(f.key, "audio"), s.newAsset(f.otherKey, "audio")
	s.expect(s.upload(f.key, f.asset, "source", mediatest.AudioM4A(s.t)), http.StatusAccepted, "")
	s.expect(s.upload(f.otherKey, f.otherAsset, "source", mediatest.AudioM4A(s.t)), http.StatusAccepted, "")
	s.waitAsset(f.key, f.asset, "the fixture asset to be ready", state("ready"))
	s.waitAsset(f.otherKey, f.otherAsset, "the other account's asset to be ready", state("ready"))
	// One delivered delivery per account, before any endpoint elsewhere
	// exists: once it is listed the event is projected, and no endpoint
	// created later gets one (nothing else completes).
	rc := newReceiver(s.t, nil)
	deliver := func(key, asset string) (endpoint, delivery, render string) {
		ep, _ := s.endpoint(key, rc.srv.URL)
		// mp3: the fixture render (m4a) stays a render of its own.
		r := s.do(key, http.MethodPost, "/v1/renders", map[string]any{"asset_id": asset, "output": map[string]any{"format": "mp3"}})
		s.expect(r, http.StatusCreated, "")
		s.completeRender(r.str("id"), "renders/"+r.str("id")+"/out.mp3", []byte("mp3"))
		var id string
		testenv.Eventually(s.t, 30*time.Second, "the fixture delivery to be delivered", func() bool {
			list := s.deliveries(key, ep)
			if len(list) == 1 && dig(list[0], "status") == "delivered" {
				id, _ = dig(list[0], "id").(string)
			}
			return id != ""
		})
		return ep, id, r.str("id")
	}
	var done string
	f.deliveryEndpoint, f.delivery, done = deliver(f.key, f.asset)
	_, f.otherDelivery, _ = deliver(f.otherKey, f.otherAsset)
	completed := s.do(f.key, http.MethodGet, "/v1/renders/"+done, nil)
	_, f.download, _ = strings.Cut(completed.str("download_url"), "/v1/downloads/")
	if f.download == "" {
		s.t.Fatalf("the completed fixture render has no download_url: %s", completed.raw)
	}
	for i := range 3 {
		k := s.do(f.key, http.MethodPost, "/v1/api-keys", map[string]any{"name": "spare " + strconv.Itoa(i)})
		s.expect(k, http.StatusCreated, "")
		f.keys = append(f.keys, k.str("id"))
	}
	otherKeys := s.do(f.otherKey, http.MethodGet, "/v1/api-keys", nil)
	s.expect(otherKeys, http.StatusOK, "")
	f.otherKeyID, _ = dig(otherKeys.body, "data.0.id").(string)
	f.uploading = s.newAsset(f.key, "video")
	f.uploads = []string{f.uploading, s.newAsset(f.key, "video"), s.newAsset(f.key, "video"), s.newAsset(f.key, "video")}
	for range 4 {
		f.audioUploads = append(f.audioUploads, s.newAsset(f.key, "video"))
	}
	f.doomed = []string{s.newAsset(f.key, "audio"), s.newAsset(f.key, "audio")}
	begin := func(key string) string {
		created := s.createUpload(key, s.newAsset(key, "video"), "source", 1_000_000)
		_, id, ok := strings.Cut(created.header.Get("Location"), "/v1/uploads/")
		if created.status != http.StatusCreated || !ok {
			s.t.Fatalf("fixture upload: %s", created)
		}
		return id
	}
	for range 4 {
		f.tusAssets = append(f.tusAssets, s.newAsset(f.key, "video"))
		f.tusUploads = append(f.tusUploads, begin(f.key))
	}
	f.spareTusUploads = []string{begin(f.key), begin(f.key)}
	f.otherUpload = begin(f.otherKey)
	cut := s.do(f.key, http.MethodPost, "/v1/assets/"+f.asset+"/cuts", map[string]any{"segments": []map[string]float64{{"start": 0, "end": 1}}})
	s.expect(cut, http.StatusCreated, "")
	f.cut = cut.str("id")
	render := s.do(f.key, http.MethodPost, "/v1/renders", map[string]any{"asset_id": f.asset, "output": map[string]any{"format": "m4a"}})
	s.expect(render, http.StatusCreated, "")
	f.render = render.str("id")
	ep := map[string]any{"url": "https://example.com/hook", "events": []string{"render.completed"}}
	f.endpoint = s.do(f.key, http.MethodPost, "/v1/webhook-endpoints", ep).str("id")
	for i := range 2 {
		spare := map[string]any{"url": "https://example.com/spare-" + strconv.Itoa(i), "events": []string{"render.completed"}}
		f.spareEndpoints = append(f.spareEndpoints, s.do(f.key, http.MethodPost, "/v1/webhook-endpoints", spare).str("id"))
	}
	f.otherEndpoint = s.do(f.otherKey, http.MethodPost, "/v1/webhook-endpoints", ep).str("id")
	for prefix, ids := range map[string][]string{"whe_": append([]string{f.endpoint, f.otherEndpoint, f.deliveryEndpoint}, f.spareEndpoints...), "whd_": {f.delivery, f.otherDelivery},
		"key_": append([]string{f.otherKeyID}, f.keys...)} {
		for _, id := range ids {
			if !strings.HasPrefix(id, prefix) {
				s.t.Fatalf("fixture %s id: %q", prefix, id)
			}
		}
	}
	return f
}

// noErrorLogged fails t if the service logged an ERROR line since mark.
func (s *service) noErrorLogged(t *testing.T, mark int) {
	t.Helper()
	logged, _ := s.logs.Since(mark)
	for _, line := range strings.Split(logged, "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("the service logged an error: %s", line)
		}
	}
}

func TestAPI_bad_input_is_never_a_500(t *testing.T) {
	s := startService(t, hygieneEnv...)
	f := s.hygieneFixtures()
	_, mark := s.logs.Since(0)
	t.Cleanup(func() { s.noErrorLogged(t, mark) })

	t.Run("the_live_findings_answer_404_400_and_422", func(t *testing.T) {
		s := s.with(t)
		for _, c := range []struct {
			method, path string
			body         any
			status       int
			code, field  string
		}{
			{"GET", "/v1/assets/%FF", nil, 404, "not_found", ""},
			{"GET", "/v1/renders/%FF/events", nil, 404, "not_found", ""},
			{"GET", "/v1/renders/rnd_%00", nil, 404, "not_found", ""},
			{"GET", "/v1/renders?asset_id=%00", nil, 400, "invalid_request", "asset_id"},
			{"GET", "/v1/renders?asset_id=%FF", nil, 400, "invalid_request", "asset_id"},
			{"GET", "/v1/assets?cursor=%00", nil, 400, "invalid_request", "cursor"},
			{"GET", "/v1/webhook-endpoints/" + f.endpoint + "/deliveries?status=%00", nil, 400, "invalid_request", "status"},
			{"GET", "/v1/renders?asset_id=" + f.render, nil, 404, "not_found", ""},
			{"GET", "/v1/assets/" + f.asset + "?x=%00", nil, 400, "invalid_request", "x"},
			{"DELETE", "/v1/renders/" + f.render + "?a=%zz", nil, 400, "invalid_request", ""},
			// A forged cursor: base64url of "1:<NUL>".
			{"GET", "/v1/assets?cursor=MToA", nil, 400, "invalid_request", "cursor"},
			{"POST", "/v1/assets", `{"kind":"audio","name":"a\u0000b"}`, 400, "invalid_request", "name"},
			{"POST", "/v1/webhook-endpoints", `{"url":"https://example.com/h","events":["render.completed"],"description":"x\u0000"}`, 400, "invalid_request", "description"},
			{"POST", "/v1/renders", `{"asset_id":"\u0000","output":{"format":"m4a"}}`, 400, "invalid_request", "asset_id"},
			{"POST", "/v1/renders", `{"asset_id":"` + f.render + `","output":{"format":"m4a"}}`, 404, "not_found", ""},
			{"POST", "/v1/renders", `{"asset_id":"` + f.asset + `","cut_id":"` + f.render + `","output":{"format":"m4a"}}`, 422, "validation_error", "cut_id"},
			{"POST", "/v1/assets/" + f.asset + "/cuts", `{"auto":{"remove_silence":{"min_silence":0.5,"threshold_db":-35}},"segments":[]}`, 422, "validation_error", "auto"},
		} {
			r := s.do(f.key, c.method, c.path, c.body)
			s.expect(r, c.status, c.code)
			if c.field != "" && r.str("error.field") != c.field {
				t.Errorf("%s %s: field %q, want %q (%s)", c.method, c.path, r.str("error.field"), c.field, r.raw)
			}
		}
	})

	t.Run("405_answers_carry_allow", func(t *testing.T) {
		s := s.with(t)
		for path, allow := range map[string]string{"/v1/assets": "GET, POST", "/v1/renders/" + f.render: "DELETE, GET",
			"/v1/assets/" + f.asset + "/source": "PUT", "/healthz": "GET", "/v1/downloads/x": "GET, HEAD"} {
			r := s.do(f.key, "PATCH", path, nil)
			s.expect(r, http.StatusMethodNotAllowed, "method_not_allowed")
			if got := r.header.Get("Allow"); got != allow {
				t.Errorf("PATCH %s: Allow %q, want %q", path, got, allow)
			}
		}
	})

	t.Run("an_id_of_another_type_or_account_is_404_on_every_route", func(t *testing.T) {
		s := s.with(t)
		doc, err := httpapi.LoadOpenAPI()
		if err != nil {
			t.Fatal(err)
		}
		// The right type, another account's; and a valid body, so only the
		// id decides.
		own := f.others()
		bodies := map[string]any{"POST /v1/assets/{id}/cuts": map[string]any{"segments": []map[string]float64{{"start": 0, "end": 1}}},
			"PUT /v1/assets/{id}/source": "media", "PUT /v1/assets/{id}/audio": "media"}
		routes := 0
		for _, op := range doc.Operations() {
			if !strings.Contains(op.Path, "/{id}") || op.Planned {
				continue
			}
			routes++
			collection := strings.Split(op.Path, "/")[2]
			notFound := "not_found"
			if op.Method == http.MethodHead {
				notFound = "" // a HEAD's answer has no body
			}
			for _, id := range f.ids() {
				if strings.HasPrefix(id, idPrefix(collection)) {
					continue // the right type
				}
				path := strings.Replace(op.Path, "{id}", id, 1)
				s.expect(s.do(f.key, op.Method, path, bodies[op.Method+" "+op.Path]), http.StatusNotFound, notFound)
			}
			if other, ok := own[collection]; ok {
				path := strings.Replace(op.Path, "{id}", other, 1)
				s.expect(s.do(f.key, op.Method, path, bodies[op.Method+" "+op.Path]), http.StatusNotFound, notFound)
			}
		}
		if routes < 10 {
			t.Errorf("only %d routes with an {id} in the document", routes)
		}
	})

	t.Run("requests_generated_from_the_document_answer_as_documented", func(t *testing.T) {
		s.with(t).propertyCheck(t, f)
	})
}

// idPrefix is the id prefix of a /v1 collection, as the service mints them.
func idPrefix(collection string) string {
	switch collection {
	case "assets":
		return "ast_"
	case "cuts":
		return "cut_"
	case "renders":
		return "rnd_"
	case "webhook-endpoints":
		return "whe_"
	case "webhook-deliveries":
		return "whd_"
	case "api-keys":
		return "key_"
	}
	return "x_"
}
