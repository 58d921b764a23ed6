package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/renderd/renderd/client"
)

// The quickstart: create an asset, upload its source with progress, wait
// for the probe, cut it, render the cut, wait for the render and download
// it. RENDERD_URL and RENDERD_API_KEY name the API and the key (make run
// prints one). cmd/renderd's TestSDK_quickstart runs this flow against a
// real renderd.
func Example_quickstart() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := client.New(os.Getenv("RENDERD_URL"), os.Getenv("RENDERD_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}

	asset, err := c.CreateAsset(ctx, client.CreateAssetRequest{Kind: "video", Name: "demo"})
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Open("clip.mp4")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.UploadSource(ctx, asset.ID, f, info.Size(), func(sent, total int64) {
		fmt.Printf("\rupload %d/%d bytes", sent, total)
	}); err != nil {
		log.Fatal(err)
	}
	if asset, err = c.WaitAsset(ctx, asset.ID); err != nil {
		log.Fatal(err)
	}
	if asset.State != client.AssetReady {
		log.Fatalf("asset %s is %s", asset.ID, asset.State)
	}

	// Keep 0-2 s and 3-4 s.
	cut, err := c.RequestCut(ctx, asset.ID, client.RequestCutRequest{Segments: []client.Segment{{Start: 0, End: 2}, {Start: 3, End: 4}}})
	if err != nil {
		log.Fatal(err)
	}
	render, err := c.RequestRender(ctx, client.RequestRenderRequest{AssetID: asset.ID, CutID: cut.ID,
		Output: client.RenderOutputRequest{Format: "mp4", Resolution: "720p"}})
	if client.ErrorCode(err) == "modifier_not_ready" {
		// The cut is still processing: wait for it, then ask again.
		for cut.State == client.CutProcessing {
			time.Sleep(time.Second)
			if cut, err = c.GetCut(ctx, cut.ID); err != nil {
				log.Fatal(err)
			}
		}
		render, err = c.RequestRender(ctx, client.RequestRenderRequest{AssetID: asset.ID, CutID: cut.ID,
			Output: client.RenderOutputRequest{Format: "mp4", Resolution: "720p"}})
	}
	if err != nil {
		log.Fatal(err)
	}
	render, err = c.WaitRender(ctx, render.ID, func(r *client.Render) {
		if r.ETASeconds != nil {
			fmt.Printf("\rrender %d%%, about %.0f s left", r.Progress, *r.ETASeconds)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	if render.State != client.RenderCompleted {
		log.Fatalf("render %s is %s: %+v", render.ID, render.State, render.Failure)
	}

	out, err := os.Create("demo-720p.mp4")
	if err != nil {
		log.Fatal(err)
	}
	defer out.Close()
	n, err := c.DownloadRender(ctx, render.ID, out)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\ndownloaded %d bytes\n", n)
}

// A webhook receiver verifies each delivery's signature over the raw body
// before trusting it (docs/webhooks.md).
func ExampleVerifyWebhook() {
	// The endpoint's secret, as CreateWebhookEndpoint answered it.
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

	// A delivery, signed here as renderd signs it.
	body := []byte(`{"id":"0190b6a4-9c1e-7d3a-8f00-3c1b2a4d5e6f","type":"render.completed",` +
		`"created_at":"2026-12-04T02:00:00Z","data":{"render":{"id":"rnd_1","state":"completed"}}}`)
	wh, _ := standardwebhooks.NewWebhook(secret)
	now := time.Now()
	sig, _ := wh.Sign("0190b6a4-9c1e-7d3a-8f00-3c1b2a4d5e6f", now, body)
	h := http.Header{}
	h.Set("webhook-id", "0190b6a4-9c1e-7d3a-8f00-3c1b2a4d5e6f")
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)

	// In a receiver: body is the raw request body, h its header.
	ev, err := client.VerifyWebhook(secret, body, h)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println(ev.Type, ev.Data.Render.ID, ev.Data.Render.State)

	body[len(body)-5] = 'X' // tampered with on the way
	_, err = client.VerifyWebhook(secret, body, h)
	fmt.Println(err != nil)
	// Output:
	// render.completed rnd_1 completed
	// true
}

// A receiver's handler: verify, answer fast, deduplicate on the event id.
func ExampleWebhookVerifier() {
	// During a rotation, a receiver may hold the old and the new secret.
	v, err := client.NewWebhookVerifier(os.Getenv("OLD_WEBHOOK_SECRET"), os.Getenv("WEBHOOK_SECRET"))
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("/renderd", func(w http.ResponseWriter, r *http.Request) {
		// The raw body, byte for byte: it is what was signed.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		ev, err := v.Verify(body, r.Header)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		log.Printf("%s: render %s is %s", ev.ID, ev.Data.Render.ID, ev.Data.Render.State)
	})
}
