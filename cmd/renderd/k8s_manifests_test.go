package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/renderd/renderd/ports/httpapi"
)

// The manifests under deployments/k8s (docs/operations.md) are checked here
// because this package knows renderd's settings, roles and routes: there is
// no cluster to apply them to, so every document is decoded strictly into
// the Kubernetes API types and held against what renderd really reads and
// serves.

const k8sDir = "../../deployments/k8s"

// k8sAWSVariables are the AWS SDK's standard variables, from which the S3
// blob store takes its credentials and region.
var k8sAWSVariables = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}

// How long renderd's roles may take to stop on SIGTERM besides the API's
// RENDERD_SHUTDOWN_TIMEOUT; a pod's terminationGracePeriodSeconds must
// leave room for the longest of them, or the kubelet's SIGKILL cuts the
// stop short (for an encoder: its renders wait out their lease and count a
// crash instead of being handed back).
const (
	// ports/consumers/router.go: the router's CloseTimeout, within which
	// the handlers in flight finish and the groups are left.
	k8sRouterCloseTimeout = 30 * time.Second
	// encoders/job.go and cmd/renderd/wiring.go: ffmpeg gets SIGTERM, then
	// SIGKILL a second later; then the render is handed back within
	// handBackTimeout (5 s).
	k8sEncoderHandBack = 1*time.Second + 5*time.Second
	// adapters/relay/relay.go: the batch in flight is checkpointed within 5 s.
	k8sRelayCheckpoint = 5 * time.Second
	// What a grace period keeps over the longest stop: the process's own
	// exit, and a loaded node.
	k8sGraceMargin = 10 * time.Second
)

// kustomization is the part of kustomize's Kustomization these manifests
// may use; anything else is refused, like an unknown field of an API type.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources"`
	Patches    []struct {
		Path   string `json:"path"`
		Target *struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"target,omitempty"`
	} `json:"patches,omitempty"`
	Labels []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
}

// k8sDoc is one decoded document.
type k8sDoc struct {
	file string
	kind string
	name string
	obj  any
}

func (d k8sDoc) String() string { return fmt.Sprintf("%s %s (%s)", d.kind, d.name, d.file) }

// decodeK8sFile decodes every document of a YAML file strictly into its
// API type, chosen by apiVersion and kind.
func decodeK8sFile(path string) ([]k8sDoc, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var docs []k8sDoc
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(yamlWithoutComments(doc))) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, err
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "kustomize.config.k8s.io/v1beta1 Kustomization":
			obj = &kustomization{}
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "v1 Namespace":
			obj = &corev1.Namespace{}
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "autoscaling/v2 HorizontalPodAutoscaler":
			obj = &autoscalingv2.HorizontalPodAutoscaler{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		default:
			return nil, fmt.Errorf("a document of kind %q %q, which this test does not know: add its type", tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
		}
		d := k8sDoc{file: path, kind: tm.Kind, obj: obj}
		if o, ok := obj.(metav1.Object); ok {
			d.name = o.GetName()
			if d.name == "" {
				return nil, fmt.Errorf("a %s without a name", tm.Kind)
			}
		}
		docs = append(docs, d)
	}
}

// yamlWithoutComments drops comment lines, so that a document of comments
// alone counts as empty.
func yamlWithoutComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

// k8sTree is one kustomization with what it includes: its resources (the
// bases' too) and its patches.
type k8sTree struct {
	dir       string
	resources []k8sDoc
	patches   []k8sDoc
}

// loadK8sTree loads the kustomization in dir and, recursively, its bases,
// checking that every resource and patch it names exists. seen collects
// every file a kustomization reaches.
func loadK8sTree(t *testing.T, dir string, decoded map[string][]k8sDoc, seen map[string]bool) k8sTree {
	kpath := filepath.Join(dir, "kustomization.yaml")
	seen[kpath] = true
	docs, ok := decoded[kpath]
	if !ok || len(docs) != 1 {
		t.Fatalf("%s: want one Kustomization document", kpath)
	}
	k := docs[0].obj.(*kustomization)
	tree := k8sTree{dir: dir}
	for _, res := range k.Resources {
		p := filepath.Join(dir, res)
		st, err := os.Stat(p)
		switch {
		case err != nil:
			t.Errorf("%s: resource %s: %v", kpath, res, err)
		case st.IsDir():
			base := loadK8sTree(t, p, decoded, seen)
			tree.resources = append(tree.resources, base.resources...)
		default:
			seen[p] = true
			tree.resources = append(tree.resources, decoded[p]...)
		}
	}
	for _, patch := range k.Patches {
		p := filepath.Join(dir, patch.Path)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: patch %s: %v", kpath, patch.Path, err)
			continue
		}
		seen[p] = true
		for _, d := range decoded[p] {
			if patch.Target != nil && (patch.Target.Kind != d.kind || patch.Target.Name != d.name) {
				t.Errorf("%s: patch %s targets %s %s but holds %s", kpath, patch.Path, patch.Target.Kind, patch.Target.Name, d)
			}
			if _, ok := findK8sDoc(tree.resources, d.kind, d.name); !ok {
				t.Errorf("%s: patch %s patches %s, which none of its resources is", kpath, patch.Path, d)
			}
			tree.patches = append(tree.patches, d)
		}
	}
	return tree
}

func findK8sDoc(docs []k8sDoc, kind, name string) (k8sDoc, bool) {
	for _, d := range docs {
		if d.kind == kind && d.name == name {
			return d, true
		}
	}
	return k8sDoc{}, false
}

func TestKubernetesManifests(t *testing.T) {
	decoded := map[string][]k8sDoc{}
	var kustomizations []string
	err := filepath.WalkDir(k8sDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			return fmt.Errorf("%s: manifests are .yaml files", path)
		}
		docs, err := decodeK8sFile(path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		decoded[path] = docs
		if filepath.Base(path) == "kustomization.yaml" {
			kustomizations = append(kustomizations, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(kustomizations) < 2 {
		t.Fatalf("want the base and at least one overlay under %s, found %v", k8sDir, kustomizations)
	}

	seen := map[string]bool{}
	trees := map[string]k8sTree{}
	for _, dir := range kustomizations {
		trees[dir] = loadK8sTree(t, dir, decoded, seen)
	}
	for path := range decoded {
		if !seen[path] {
			t.Errorf("%s is in no kustomization's resources or patches", path)
		}
	}

	known := k8sKnownVariables()
	for _, docs := range decoded {
		for _, d := range docs {
			checkK8sVariables(t, d, known)
		}
	}
	for dir, tree := range trees {
		t.Run(filepath.Base(dir), func(t *testing.T) { checkK8sTree(t, tree) })
	}
}

// k8sKnownVariables are the environment variables renderd reads: its
// settings table, the AWS SDK's, and those still being added.
func k8sKnownVariables() map[string]bool {
	known := map[string]bool{}
	for _, s := range settings {
		known[s.env] = true
	}
	for _, v := range k8sAWSVariables {
		known[v] = true
	}
	return known
}

// checkK8sVariables refuses any environment variable renderd does not
// read, whether a container sets it or a ConfigMap provides it (the
// manifests' ConfigMaps hold settings and nothing else), and any
// secret taken from a key of another name (the Secret's keys are the
// variables' names, docs/operations.md "Secrets"). envFrom a Secret is
// refused: its keys are in no manifest, so none could be checked.
func checkK8sVariables(t *testing.T, d k8sDoc, known map[string]bool) {
	switch o := d.obj.(type) {
	case *corev1.ConfigMap:
		for key := range o.Data {
			if !known[key] {
				t.Errorf("%s: %s is not a variable renderd reads", d, key)
			}
		}
		if len(o.BinaryData) > 0 {
			t.Errorf("%s: binaryData is no setting", d)
		}
	case *appsv1.Deployment:
		spec := o.Spec.Template.Spec
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			for _, e := range c.Env {
				if !known[e.Name] {
					t.Errorf("%s: container %s sets %s, which renderd does not read", d, c.Name, e.Name)
				}
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Key != e.Name {
					t.Errorf("%s: container %s takes %s from the secret key %s: name the key as the variable", d, c.Name, e.Name, e.ValueFrom.SecretKeyRef.Key)
				}
			}
			for _, from := range c.EnvFrom {
				if from.SecretRef != nil || from.Prefix != "" {
					t.Errorf("%s: container %s: envFrom a Secret, or with a prefix, hides which variables it sets: use env with secretKeyRef", d, c.Name)
				}
			}
		}
	}
}

// checkK8sTree checks one kustomization as applied: the Deployments with
// their patches, the ConfigMaps their containers read, what selects them.
func checkK8sTree(t *testing.T, tree k8sTree) {
	configMaps := map[string]map[string]string{}
	for _, d := range slices.Concat(tree.resources, tree.patches) {
		if cm, ok := d.obj.(*corev1.ConfigMap); ok {
			if configMaps[cm.Name] == nil {
				configMaps[cm.Name] = map[string]string{}
			}
			maps.Copy(configMaps[cm.Name], cm.Data) // a patch's values win
		}
	}
	var deployments []*appsv1.Deployment
	for _, d := range tree.resources {
		if dep, ok := d.obj.(*appsv1.Deployment); ok {
			deployments = append(deployments, patchedDeployment(dep, tree.patches))
		}
	}
	roles := map[string]bool{}
	for _, dep := range deployments {
		for _, r := range checkK8sDeployment(t, dep, configMaps) {
			if roles[r] {
				t.Errorf("Deployment %s: role %s runs in two Deployments", dep.Name, r)
			}
			roles[r] = true
		}
	}
	for _, r := range allRoles {
		if !roles[r] {
			t.Errorf("no Deployment runs the %s role", r)
		}
	}
	selects := func(what string, sel *metav1.LabelSelector, matchLabels map[string]string) *appsv1.Deployment {
		var set labels.Selector
		var err error
		if sel != nil {
			set, err = metav1.LabelSelectorAsSelector(sel)
		} else {
			set = labels.SelectorFromSet(matchLabels)
		}
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return nil
		}
		var hit []*appsv1.Deployment
		for _, dep := range deployments {
			if set.Matches(labels.Set(dep.Spec.Template.Labels)) {
				hit = append(hit, dep)
			}
		}
		if len(hit) != 1 {
			t.Errorf("%s selects %d Deployments' pods, want one", what, len(hit))
			return nil
		}
		return hit[0]
	}
	hpas := 0
	for _, d := range tree.resources {
		switch o := d.obj.(type) {
		case *corev1.Service:
			dep := selects(d.String(), nil, o.Spec.Selector)
			for _, p := range o.Spec.Ports {
				if dep != nil && !servesPort(dep.Spec.Template.Spec.Containers, p.TargetPort.String()) {
					t.Errorf("%s: targetPort %s is no port of %s's containers", d, p.TargetPort.String(), dep.Name)
				}
			}
		case *policyv1.PodDisruptionBudget:
			selects(d.String(), o.Spec.Selector, nil)
			if o.Spec.MinAvailable != nil {
				t.Errorf("%s: use maxUnavailable: minAvailable 1 of a single replica (the dev overlay) blocks every node drain", d)
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			hpas++
			ref := o.Spec.ScaleTargetRef
			var dep *appsv1.Deployment
			for _, x := range deployments {
				if ref.Kind == "Deployment" && x.Name == ref.Name {
					dep = x
				}
			}
			switch {
			case dep == nil:
				t.Errorf("%s scales %s %s, which is no Deployment here", d, ref.Kind, ref.Name)
			case dep.Spec.Replicas != nil:
				t.Errorf("%s: Deployment %s sets replicas, which every apply would reset under the autoscaler", d, dep.Name)
			case !slices.Contains(servedRoles(dep.Spec.Template.Spec.Containers[0]), RoleAPI):
				t.Errorf("%s scales %s, which does not run the api role", d, dep.Name)
			}
		}
	}
	if hpas != 1 {
		t.Errorf("%d HorizontalPodAutoscalers, want one (the api's)", hpas)
	}
}

// patchedDeployment applies the strategic-merge patches of a Deployment
// that the manifests use: replicas, and per container (by name) its
// resources and environment variables (by name).
func patchedDeployment(dep *appsv1.Deployment, patches []k8sDoc) *appsv1.Deployment {
	dep = dep.DeepCopy()
	for _, p := range patches {
		patch, ok := p.obj.(*appsv1.Deployment)
		if !ok || patch.Name != dep.Name {
			continue
		}
		if patch.Spec.Replicas != nil {
			dep.Spec.Replicas = patch.Spec.Replicas
		}
		for _, pc := range patch.Spec.Template.Spec.Containers {
			for i := range dep.Spec.Template.Spec.Containers {
				c := &dep.Spec.Template.Spec.Containers[i]
				if c.Name != pc.Name {
					continue
				}
				maps.Copy(c.Resources.Requests, pc.Resources.Requests)
				maps.Copy(c.Resources.Limits, pc.Resources.Limits)
				for _, e := range pc.Env {
					if j := slices.IndexFunc(c.Env, func(x corev1.EnvVar) bool { return x.Name == e.Name }); j >= 0 {
						c.Env[j] = e
					} else {
						c.Env = append(c.Env, e)
					}
				}
			}
		}
	}
	return dep
}

// servedRoles are the roles a container's `renderd serve --roles=…` runs.
func servedRoles(c corev1.Container) []string {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--roles="); ok {
			return splitList(v)
		}
	}
	return nil
}

func servesPort(containers []corev1.Container, port string) bool {
	for _, c := range containers {
		for _, p := range c.Ports {
			if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
				return true
			}
		}
	}
	return false
}

// containerEnv is what the container's process would see: its ConfigMaps
// (envFrom, in order), then its own env, a secret standing in for each
// secretKeyRef and the pod's name for a fieldRef.
func containerEnv(t *testing.T, where string, c corev1.Container, configMaps map[string]map[string]string) map[string]string {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		data, ok := configMaps[from.ConfigMapRef.Name]
		if !ok {
			t.Errorf("%s: container %s reads ConfigMap %s, which is no resource here", where, c.Name, from.ConfigMapRef.Name)
		}
		maps.Copy(env, data)
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = map[string]string{
				"DATABASE_URL":            "postgres://renderd@postgres:5432/renderd",
				"RENDERD_SECRETS_KEY":     testSecretsKey,
				"RENDERD_DOWNLOAD_SECRET": testSecretsKey,
			}[e.Name]
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			v, ok := configMaps[ref.Name][ref.Key]
			if !ok {
				t.Errorf("%s: container %s takes %s from %s/%s, which is not there", where, c.Name, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = "renderd-pod-0"
		default:
			t.Errorf("%s: container %s: %s comes from a source this test does not check", where, c.Name, e.Name)
		}
	}
	return env
}

// checkK8sDeployment checks one Deployment's pod: every container's
// command and configuration load as renderd would load them, probes ask
// for paths renderd serves on the port it listens on, the grace period
// outlasts the roles' stop, and the pod is locked down. It returns the
// roles it runs.
func checkK8sDeployment(t *testing.T, dep *appsv1.Deployment, configMaps map[string]map[string]string) []string {
	where := "Deployment " + dep.Name
	spec := dep.Spec.Template.Spec
	if sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector); err != nil || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("%s: its selector does not select its own pods (%v)", where, err)
	}
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: the pod must run as non-root", where)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: renderd calls no Kubernetes API: mount no service account token", where)
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("%s: service links put variables like RENDERD_API_PORT into renderd's settings namespace: set enableServiceLinks: false", where)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: want one container (renderd), got %d", where, len(spec.Containers))
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: container %s: want a read-only root, no privilege escalation, every capability dropped", where, c.Name)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, okReq := c.Resources.Requests[res]
			lim, okLim := c.Resources.Limits[res]
			if !okReq || !okLim || req.Cmp(lim) > 0 {
				t.Errorf("%s: container %s: want a %s request and a limit above it, got %v / %v", where, c.Name, res, req.String(), lim.String())
			}
		}
		if len(c.Args) == 0 {
			t.Errorf("%s: container %s: no renderd command", where, c.Name)
			continue
		}
		env := containerEnv(t, where, c, configMaps)
		cfg, _, err := loadConfig(c.Args[0], c.Args[1:], func(k string) string { return env[k] }, io.Discard, nil)
		if err != nil {
			t.Errorf("%s: container %s: renderd %s refuses its configuration: %v", where, c.Name, strings.Join(c.Args, " "), err)
		}
		if c.Args[0] == "serve" && c.Name == spec.Containers[0].Name {
			checkK8sServe(t, where, spec, dep.Spec.Template.Annotations, c, cfg)
			return cfg.Roles
		}
		if c.Args[0] != "migrate" {
			t.Errorf("%s: container %s runs renderd %s: only serve (containers) and migrate (init containers) are expected", where, c.Name, c.Args[0])
		}
	}
	t.Errorf("%s: its container does not run renderd serve", where)
	return nil
}

// checkK8sServe checks the serving container: its metrics listener and
// scrape annotations, probes on ports it listens on and paths served there,
// and the grace period.
func checkK8sServe(t *testing.T, where string, spec corev1.PodSpec, annotations map[string]string, c corev1.Container, cfg Config) {
	if !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--roles=") }) {
		t.Errorf("%s: name the roles in the arguments (--roles=…), not through the default of all", where)
	}
	probes := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe}
	serves := cfg.has(RoleAPI)
	_, apiPort, err := net.SplitHostPort(cfg.HTTPAddr)
	if serves && err != nil {
		t.Errorf("%s: RENDERD_HTTP_ADDR %q: %v", where, cfg.HTTPAddr, err)
	}
	if host, _, _ := net.SplitHostPort(cfg.HTTPAddr); serves && host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("%s: the API listens on %s, out of the kubelet's and the Service's reach: listen on 0.0.0.0", where, cfg.HTTPAddr)
	}
	// Every role has the metrics listener, on the pod's address, behind a
	// container port named metrics that the scrape annotations name.
	metricsHost, metricsPort, err := net.SplitHostPort(cfg.MetricsAddr)
	switch {
	case err != nil:
		t.Errorf("%s: RENDERD_METRICS_ADDR %q: want the metrics listener on for every role (%v)", where, cfg.MetricsAddr, err)
	case metricsHost != "" && metricsHost != "0.0.0.0" && metricsHost != "::":
		t.Errorf("%s: the metrics listener is on %s, out of Prometheus's and the kubelet's reach: listen on 0.0.0.0", where, cfg.MetricsAddr)
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return p.Name == "metrics" && fmt.Sprint(p.ContainerPort) == metricsPort
	}) {
		t.Errorf("%s: want a container port named metrics, %s (RENDERD_METRICS_ADDR %s)", where, metricsPort, cfg.MetricsAddr)
	}
	if a := annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != metricsPort || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("%s: the pod's scrape annotations %v, want prometheus.io/scrape true, port %s, path /metrics", where, a, metricsPort)
	}
	// The ports the process listens on, and what each serves.
	listens := map[string]func(path string) bool{}
	if serves {
		router := httpapi.NewRouter(nil, slog.New(slog.DiscardHandler))
		listens[apiPort] = func(path string) bool {
			var m mux.RouteMatch
			return router.Match(httptest.NewRequest("GET", path, nil), &m) && m.MatchErr == nil
		}
	}
	if metricsPort != "" {
		listens[metricsPort] = func(path string) bool { return path == "/metrics" || path == "/healthz" || path == "/readyz" }
	}
	for kind, p := range probes {
		if p == nil {
			continue
		}
		if p.TCPSocket != nil || p.GRPC != nil {
			t.Errorf("%s: %s probe: renderd serves HTTP probes only", where, kind)
		}
		if p.HTTPGet == nil {
			continue
		}
		port := p.HTTPGet.Port.String()
		for _, cp := range c.Ports {
			if cp.Name == port {
				port = fmt.Sprint(cp.ContainerPort)
			}
		}
		served, ok := listens[port]
		if !ok {
			t.Errorf("%s: %s probe asks port %s, on which roles %v do not listen (API %q, metrics %q)", where, kind, p.HTTPGet.Port.String(), cfg.Roles, cfg.HTTPAddr, cfg.MetricsAddr)
			continue
		}
		if !served(p.HTTPGet.Path) {
			t.Errorf("%s: %s probe asks %s on port %s, which renderd does not serve there without a key", where, kind, p.HTTPGet.Path, port)
		}
	}
	wantProbes := func(port string) bool {
		at := func(p *corev1.Probe, path string) bool {
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
				return false
			}
			got := p.HTTPGet.Port.String()
			return got == port || slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == got && fmt.Sprint(cp.ContainerPort) == port })
		}
		return at(c.LivenessProbe, "/healthz") && at(c.ReadinessProbe, "/readyz")
	}
	switch {
	case serves && !wantProbes(apiPort):
		t.Errorf("%s: the api role wants liveness on /healthz and readiness on /readyz, on the API's port", where)
	case !serves && !wantProbes(metricsPort):
		t.Errorf("%s: roles %v want liveness on /healthz and readiness on /readyz, on the metrics listener", where, cfg.Roles)
	}

	// The longest stop of the roles it runs, after the preStop hook.
	var stop time.Duration
	if serves {
		stop = max(stop, cfg.ShutdownTimeout)
	}
	if cfg.has(RoleProjector) || cfg.has(RoleEncoder) || cfg.has(RoleWebhooks) {
		stop = max(stop, k8sRouterCloseTimeout)
	}
	if cfg.has(RoleEncoder) {
		stop = max(stop, k8sEncoderHandBack)
	}
	if cfg.has(RoleRelay) {
		stop = max(stop, k8sRelayCheckpoint)
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if c.Lifecycle.PreStop.Sleep == nil {
			t.Errorf("%s: only a preStop sleep is expected (the image has no shell tools to rely on)", where)
		} else {
			stop += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
	}
	grace := 30 * time.Second // Kubernetes' default
	if spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	}
	if grace < stop+k8sGraceMargin {
		t.Errorf("%s: terminationGracePeriodSeconds %v, but roles %v take up to %v to stop: want at least %v",
			where, grace, cfg.Roles, stop, stop+k8sGraceMargin)
	}
	if cfg.has(RoleEncoder) {
		checkK8sEncoder(t, where, spec, c, cfg)
	}
}

// checkK8sEncoder checks what an encoder needs beyond the other roles:
// slots set explicitly (their default is the node's cores, not the pod's
// CPU limit), and a writable scratch folder on the read-only root.
func checkK8sEncoder(t *testing.T, where string, spec corev1.PodSpec, c corev1.Container, cfg Config) {
	if cfg.EncoderConcurrency == 0 || cfg.MediaConcurrency == 0 || cfg.FFmpegThreads == 0 {
		t.Errorf("%s: set RENDERD_ENCODER_CONCURRENCY, RENDERD_MEDIA_CONCURRENCY and RENDERD_FFMPEG_THREADS: their defaults follow the node's cores, not the pod's limit", where)
	}
	var scratch string
	for _, e := range c.Env {
		if e.Name == "RENDERD_SCRATCH_DIR" {
			scratch = e.Value
		}
	}
	mounted := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		if m.MountPath != scratch || m.ReadOnly {
			return false
		}
		return slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name && v.EmptyDir != nil })
	})
	if scratch == "" || !mounted {
		t.Errorf("%s: the encoder's RENDERD_SCRATCH_DIR (%q) must be a writable emptyDir mount", where, scratch)
	}
}

// The compose file (no Docker daemon runs these tests) must at least parse
// and give renderd only variables it reads, its blob store on S3 with
// signed requests.
func TestDockerCompose(t *testing.T) {
	raw, err := os.ReadFile("../../deployments/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command     []string          `json:"command"`
			Environment map[string]string `json:"environment"`
		} `json:"services"`
		Configs map[string]struct {
			Content string `json:"content"`
		} `json:"configs"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	known := k8sKnownVariables()
	renderd, ok := compose.Services["renderd"]
	if !ok {
		t.Fatal("no renderd service")
	}
	for name := range renderd.Environment {
		if !known[name] {
			t.Errorf("renderd's environment sets %s, which renderd does not read", name)
		}
	}
	if !strings.HasPrefix(renderd.Environment["RENDERD_BLOB_URL"], "s3://") {
		t.Errorf("RENDERD_BLOB_URL %q: want the S3 store", renderd.Environment["RENDERD_BLOB_URL"])
	}
	if !slices.Contains(compose.Services["seaweedfs"].Command, "-s3.config=/etc/seaweedfs/s3.json") {
		t.Error("seaweedfs serves S3 without identities, so without checking signatures")
	}
	var identities struct {
		Identities []struct {
			Name        string
			Credentials []struct{ AccessKey, SecretKey string }
			Actions     []string
		}
	}
	if err := yaml.UnmarshalStrict([]byte(compose.Configs["seaweedfs-s3"].Content), &identities); err != nil {
		t.Fatalf("seaweedfs-s3: %v", err)
	}
	signs := false
	for _, id := range identities.Identities {
		for _, c := range id.Credentials {
			signs = signs || (c.AccessKey == renderd.Environment["AWS_ACCESS_KEY_ID"] && c.SecretKey == renderd.Environment["AWS_SECRET_ACCESS_KEY"])
		}
	}
	if !signs {
		t.Error("renderd's AWS keys are no identity of seaweedfs-s3")
	}
}
