package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckStack_refuses_any_stack_but_its_own(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "kafka"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kafka", "server.properties"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	own := "postgres://renderd:renderd@/renderd?host=" + filepath.Join(dir, "sock") + "&port=29349&sslmode=disable"
	cases := map[string]struct {
		dataDir, dsn string
		ok           bool
	}{
		"its_own_stack":             {dir, own, true},
		"the_shared_stack_s_socket": {dir, "postgres://renderd:renderd@/renderd?host=/work/main/.data/sock&port=54329", false},
		"a_tcp_postgres":            {dir, "postgres://renderd:renderd@127.0.0.1:54329/renderd", false},
		"no_data_dir":               {"", own, false},
		"a_data_dir_without_kafka":  {t.TempDir(), own, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("RENDERD_DATA_DIR", c.dataDir)
			t.Setenv("DATABASE_URL", c.dsn)
			t.Setenv("KAFKA_BROKERS", "127.0.0.1:29392")
			_, err := checkStack("up")
			if (err == nil) != c.ok {
				t.Fatalf("checkStack: %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestDescribe_a_row_is_ok_only_when_every_figure_is_within_its_bound(t *testing.T) {
	within := measure{what: "relay publishes", took: 300 * time.Millisecond, bound: time.Second}
	late := measure{what: "relay publishes", took: 1400 * time.Millisecond, bound: time.Second}
	never := measure{what: "a render completes", bound: 10 * time.Second, err: errors.New("not within 55s")}
	broken := measure{what: "restart", err: errors.New("exec: no such file")}
	cases := map[string]struct {
		ms   []measure
		ok   bool
		text string
	}{
		"within":          {[]measure{within}, true, "relay publishes: 300ms"},
		"late":            {[]measure{within, late}, false, "relay publishes: 1.4s"},
		"never":           {[]measure{within, never}, false, "a render completes: not within 55s"},
		"injection_error": {[]measure{broken}, false, "error: exec: no such file"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rec, _, ok := describe(c.ms)
			if ok != c.ok || !strings.Contains(rec, c.text) {
				t.Fatalf("describe: %q ok=%v, want %q ok=%v", rec, ok, c.text, c.ok)
			}
		})
	}
}

func TestReplayOutput_differing_rows_are_found_per_table(t *testing.T) {
	out := `replayed 1287 events in 322ms (3995 events/s) into schema renderd_replay
caught up: 0 events read from the replay's snapshot to the head of the log
rm_assets   0 rows differ from the live read model
rm_cuts     161 rows differ from the live read model
  cut_01a23c44-ff27-70d9-8e09-3fe8d6fffd0a
rm_renders  118 rows differ from the live read model
`
	n := 0
	for _, m := range differRE.FindAllStringSubmatch(out, -1) {
		var d int
		fmt.Sscan(m[2], &d)
		n += d
	}
	if n != 279 {
		t.Fatalf("differing rows: %d, want 279", n)
	}
}

func TestReceiver_counts_every_delivery_and_refuses_while_down(t *testing.T) {
	r, err := newReceiver("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.down()
	send := func(id string) error {
		req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+"/hooks/x", strings.NewReader("{}"))
		req.Header.Set("webhook-id", id)
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	for _, id := range []string{"a", "a", "b"} {
		if err := send(id); err != nil {
			t.Fatal(err)
		}
	}
	r.down()
	if err := send("c"); err == nil {
		t.Fatal("a delivery reached the receiver while it was down")
	}
	if err := r.up(); err != nil {
		t.Fatal(err)
	}
	if err := send("c"); err != nil {
		t.Fatal(err)
	}
	counts, _ := r.seen([]string{"a", "b", "c", "d"})
	if !slices.Equal(counts, []int{2, 1, 1, 0}) {
		t.Fatalf("counts %v, want [2 1 1 0]", counts)
	}
}

func TestCutRequest_a_fault_s_renders_are_distinct(t *testing.T) {
	seen := map[string]bool{}
	for n := int64(1); n <= 1500; n++ {
		k := fmt.Sprint(cutRequest(n))
		if seen[k] {
			t.Fatalf("cut %d repeats an earlier one: %s", n, k)
		}
		seen[k] = true
	}
}

func TestChildren_and_waitGone_see_a_child_until_it_is_reaped(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !slices.Contains(children(os.Getpid()), pid) {
		t.Fatalf("children of the test process %v lack %d", children(os.Getpid()), pid)
	}
	_ = cmd.Process.Kill()
	// Dead but not reaped: a zombie, which alive ignores and exists does not.
	if err := waitGone([]int{pid}, 5*time.Second, alive); err != nil {
		t.Fatal(err)
	}
	if !exists(pid) {
		t.Fatal("the unreaped child no longer exists")
	}
	_ = cmd.Wait()
	if err := waitGone([]int{pid}, 5*time.Second, exists); err != nil {
		t.Fatal(err)
	}
}

func TestChooseFaults_runs_the_named_ones_in_the_suite_s_order_and_refuses_unknown_names(t *testing.T) {
	got, err := chooseFaults("pg-restart-fast,kill-api")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].name != "kill-api" || got[1].name != "pg-restart-fast" {
		t.Fatalf("chose %v", got)
	}
	if all, _ := chooseFaults(""); len(all) != len(faults) {
		t.Fatalf("no -only chose %d faults, want all %d", len(all), len(faults))
	}
	if _, err := chooseFaults("kill-api,kill-everything"); err == nil || !strings.Contains(err.Error(), "kill-everything") {
		t.Fatalf("an unknown fault: %v", err)
	}
}

func TestKafkaNode_names_the_files_deployments_local_gives_each_node(t *testing.T) {
	s := &stack{dataDir: "/d", brokers: []string{"127.0.0.1:29392", "127.0.0.1:29394", "127.0.0.1:29396"}}
	for n, want := range map[int][2]string{
		1: {"/d/kafka/server.properties", "/d/run/kafka.pid"},
		2: {"/d/kafka/server-2.properties", "/d/run/kafka-2.pid"},
		3: {"/d/kafka/server-3.properties", "/d/run/kafka-3.pid"},
	} {
		if config, pid := s.kafkaNode(n); config != want[0] || pid != want[1] {
			t.Errorf("node %d: %s, %s; want %s, %s", n, config, pid, want[0], want[1])
		}
	}
	if s.nodes() != 3 {
		t.Errorf("nodes: %d, want 3", s.nodes())
	}
}

func TestCheckNoSharedFolder_refuses_a_fleet_whose_processes_share_a_folder(t *testing.T) {
	root := t.TempDir()
	s3 := "RENDERD_BLOB_URL=s3://renderd/blobs/chaos-1?endpoint=http://127.0.0.1:29433&region=us-east-1&path_style=true"
	base := []string{"RENDERD_BLOB_URL=file:/tmp/blobs", s3, "RENDERD_SCRATCH_DIR=" + filepath.Join(root, "commands")}
	harness := map[string]string{"commands": filepath.Join(root, "commands")}
	f, err := newFleet(t.TempDir(), filepath.Join(root, "procs"), base)
	if err != nil {
		t.Skipf("the suite's api ports are taken here: %v", err)
	}
	if err := f.checkNoSharedFolder(harness); err != nil {
		t.Fatalf("the suite's own fleet: %v", err)
	}
	cases := map[string]func(f *fleet){
		"a_shared_blob_folder": func(f *fleet) { f.procs[5].env = append(f.procs[5].env, "RENDERD_BLOB_URL=file:/tmp/blobs") },
		"the_default_blob_folder": func(f *fleet) {
			f.procs[0].env = append(f.procs[0].env, "RENDERD_BLOB_URL=")
		},
		"one_scratch_folder_for_two": func(f *fleet) {
			f.procs[6].scratch = f.procs[5].scratch
			f.procs[6].env = append(f.procs[6].env, "RENDERD_SCRATCH_DIR="+f.procs[5].scratch)
		},
		"a_scratch_folder_inside_another": func(f *fleet) {
			in := filepath.Join(f.procs[5].scratch, "fetch")
			f.procs[6].scratch, f.procs[6].env = in, append(f.procs[6].env, "RENDERD_SCRATCH_DIR="+in)
		},
		"the_harness_s_folder": func(f *fleet) {
			f.procs[0].scratch, f.procs[0].env = harness["commands"], append(f.procs[0].env, "RENDERD_SCRATCH_DIR="+harness["commands"])
		},
		"a_relative_folder": func(f *fleet) {
			f.procs[1].scratch, f.procs[1].env = "scratch", append(f.procs[1].env, "RENDERD_SCRATCH_DIR=scratch")
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			f, err := newFleet(t.TempDir(), filepath.Join(root, "procs"), base)
			if err != nil {
				t.Skip(err)
			}
			breakIt(f)
			if err := f.checkNoSharedFolder(harness); err == nil {
				t.Fatal("checkNoSharedFolder accepted it")
			}
		})
	}
}

func TestRunBlobURL_is_a_prefix_of_the_run_s_own_below_the_stack_s(t *testing.T) {
	stack := "s3://renderd/blobs?endpoint=http://127.0.0.1:29433&region=us-east-1&path_style=true"
	at := time.Date(2026, 12, 3, 20, 1, 2, 0, time.UTC)
	a, err := runBlobURL(stack, at)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := runBlobURL(stack, at)
	if !strings.HasPrefix(a, "s3://renderd/blobs/chaos-20261203-200102-") || a == b || !strings.Contains(a, "endpoint=") {
		t.Fatalf("runBlobURL: %s and %s", a, b)
	}
	for _, bad := range []string{"", "file:/tmp/blobs", "/tmp/blobs"} {
		if _, err := runBlobURL(bad, at); err == nil {
			t.Errorf("runBlobURL(%q) accepted it", bad)
		}
	}
}

func TestLooksLike_an_output_starts_as_its_format_does(t *testing.T) {
	mp4 := []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00")
	cases := []struct {
		format string
		data   []byte
		ok     bool
	}{
		{"mp4", mp4, true}, {"m4a", mp4, true}, {"mov", []byte("\x00\x00\x00\x14ftypqt  "), true},
		{"mp4", []byte("\x00\x00\x00\x20mdat"), false}, {"mp4", []byte("ftyp"), false},
		{"mp3", []byte("ID3\x04\x00"), true}, {"mp3", []byte{0xff, 0xfb, 0x90}, true}, {"mp3", mp4, false},
		{"webm", mp4, false},
	}
	for _, c := range cases {
		if got := looksLike(c.format, c.data); got != c.ok {
			t.Errorf("looksLike(%s, % x) = %v", c.format, c.data, got)
		}
	}
}
