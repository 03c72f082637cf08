package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sluicehq/sluice/config"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const k8sDir = "k8s"

// The manifests are decoded into the Kubernetes API's own Go types
// (k8s.io/api), strictly: a misspelt or misplaced field, which kubectl
// would reject or a lenient apply would drop, fails the test. Strict
// decoding does not see a field left out, so missingRequired checks those
// too, by the API conventions the OpenAPI schema is generated from.

// decodeYAML strictly decodes the one document in a manifest into v, an
// API type, and fails on every field the type requires that it lacks.
func decodeYAML(tb testing.TB, name string, v any) {
	tb.Helper()
	if err := decodeManifest(readFile(tb, filepath.Join(k8sDir, name)), v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

// decodeManifest is decodeYAML on bytes.
func decodeManifest(b []byte, v any) error {
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		return err
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return err
	}
	var raw any
	if err := json.Unmarshal(j, &raw); err != nil {
		return err
	}
	if missing := missingRequired("", reflect.TypeOf(v), raw); len(missing) > 0 {
		return fmt.Errorf("required fields missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

// missingRequired returns the paths of the fields of API type t that the
// decoded JSON v leaves out although t requires them. By the Kubernetes API
// conventions a field whose json tag has no omitempty is required: the
// OpenAPI schema lists it under "required" (podFailurePolicy's
// onPodConditions status, for one, on the clusters still in use).
func missingRequired(path string, t reflect.Type, v any) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil // a type with its own JSON form: Quantity, IntOrString, Time
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case !f.IsExported() || name == "-":
				continue
			case name == "" && f.Anonymous, strings.Contains(opts, "inline"):
				out = append(out, missingRequired(path, f.Type, v)...)
				continue
			case name == "":
				continue
			}
			val, present := m[name]
			if !present {
				if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
					out = append(out, path+"."+name)
				}
				continue
			}
			out = append(out, missingRequired(path+"."+name, f.Type, val)...)
		}
	case reflect.Slice:
		l, _ := v.([]any)
		for i, e := range l {
			out = append(out, missingRequired(fmt.Sprintf("%s[%d]", path, i), t.Elem(), e)...)
		}
	case reflect.Map:
		m, _ := v.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			out = append(out, missingRequired(path+"."+k, t.Elem(), m[k])...)
		}
	}
	return out
}

func sec(n int64) time.Duration { return time.Duration(n) * time.Second }

// checkPod checks what the CronJob's and the Deployment's pods share.
func checkPod(t *testing.T, p corev1.PodSpec, cm corev1.ConfigMap, command string) {
	t.Helper()
	cfg := mustConfig(t, "ConfigMap "+cm.Name+" with the container's env", containerEnviron(p.Containers[0], cm))
	checkOrder(t, command, []string{"SLUICE_TIMEOUT", "SLUICE_SHUTDOWN_GRACE", "terminationGracePeriodSeconds"},
		cfg.Timeout, cfg.ShutdownGrace, sec(deref(p.TerminationGracePeriodSeconds)))
	sc := p.SecurityContext
	if sc == nil || !deref(sc.RunAsNonRoot) || deref(sc.RunAsUser) == 0 || deref(sc.FSGroup) == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, a non-root runAsUser and an fsGroup (so the volume is writable)", sc)
	}
	if len(p.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(p.Containers))
	}
	c := p.Containers[0]
	if !slices.Equal(c.Args, []string{command}) {
		t.Errorf("args %q, want [%s]", c.Args, command)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cm.Name {
		t.Errorf("envFrom %+v, want the ConfigMap %s", c.EnvFrom, cm.Name)
	}
	csc := c.SecurityContext
	if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext %+v: want allowPrivilegeEscalation false and capabilities drop ALL", csc)
	}
}

// containerEnviron is what the container's process sees: the ConfigMap
// (envFrom), then its env, where a value from a Secret stands in as
// secretDB (the only Secret the manifests name).
func containerEnviron(c corev1.Container, cm corev1.ConfigMap) []string {
	environ := mapEnviron(cm.Data)
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			v = secretDB
		}
		environ = append(environ, e.Name+"="+v) // env wins over envFrom
	}
	return environ
}

// checkOnClaim: the SQLite queue is on the sluice-data claim, not in the
// pod's own filesystem.
func checkOnClaim(t *testing.T, p corev1.PodSpec, cfg config.Config) {
	t.Helper()
	c := p.Containers[0]
	claims := map[string]string{}
	for _, v := range p.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.Name] = v.PersistentVolumeClaim.ClaimName
		}
	}
	var onClaim bool
	for _, m := range c.VolumeMounts {
		if claims[m.Name] == "sluice-data" && underDir(cfg.DB, m.MountPath) {
			onClaim = true
		}
	}
	if !onClaim {
		t.Errorf("SLUICE_DB=%s is not on the sluice-data claim: the queue would vanish with the pod", cfg.DB)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func TestKubernetes(t *testing.T) {
	var cm corev1.ConfigMap
	decodeYAML(t, "configmap.yaml", &cm)
	var claim corev1.PersistentVolumeClaim
	decodeYAML(t, "pvc.yaml", &claim)
	if claim.Name != "sluice-data" || !slices.Equal(claim.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
		t.Errorf("PersistentVolumeClaim %s %v, want sluice-data ReadWriteOnce", claim.Name, claim.Spec.AccessModes)
	}

	t.Run("cronjob", func(t *testing.T) {
		var cj batchv1.CronJob
		decodeYAML(t, "cronjob.yaml", &cj)
		if cj.APIVersion != "batch/v1" || cj.Kind != "CronJob" {
			t.Errorf("%s %s, want batch/v1 CronJob", cj.APIVersion, cj.Kind)
		}
		if _, err := cron.ParseStandard(cj.Spec.Schedule); err != nil {
			t.Errorf("schedule: %v", err)
		}
		if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("concurrencyPolicy %q, want Forbid", cj.Spec.ConcurrencyPolicy)
		}
		job := cj.Spec.JobTemplate.Spec
		pod := job.Template.Spec
		if pod.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("restartPolicy %q, want Never (podFailurePolicy requires it)", pod.RestartPolicy)
		}
		checkPod(t, pod, cm, "drain")
		cfg := mustConfig(t, "ConfigMap sluice", mapEnviron(cm.Data))
		checkOnClaim(t, pod, cfg)
		if cfg.DrainDeadline <= 0 {
			t.Error("SLUICE_DRAIN_DEADLINE is 0: a one-shot drain needs a finite deadline below activeDeadlineSeconds")
		}
		checkOrder(t, "cronjob", []string{"SLUICE_DRAIN_DEADLINE + SLUICE_TIMEOUT + SLUICE_KILL_GRACE", "activeDeadlineSeconds"},
			cfg.DrainDeadline+cfg.Timeout+cfg.KillGrace, sec(deref(job.ActiveDeadlineSeconds)))

		var fails78 bool
		if job.PodFailurePolicy != nil {
			for _, r := range job.PodFailurePolicy.Rules {
				e := r.OnExitCodes
				if r.Action == batchv1.PodFailurePolicyActionFailJob && e != nil && e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn &&
					deref(e.ContainerName) == pod.Containers[0].Name && slices.Contains(e.Values, 78) {
					fails78 = true
				}
			}
		}
		if !fails78 {
			t.Error("no podFailurePolicy rule fails the Job on exit code 78 (bad configuration: retrying cannot help)")
		}
	})

	t.Run("deployment", func(t *testing.T) {
		var d appsv1.Deployment
		decodeYAML(t, "deployment.yaml", &d)
		if d.APIVersion != "apps/v1" || d.Kind != "Deployment" {
			t.Errorf("%s %s, want apps/v1 Deployment", d.APIVersion, d.Kind)
		}
		if deref(d.Spec.Replicas) != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("replicas %d strategy %q, want 1 and Recreate (one pod owns the ReadWriteOnce volume)", deref(d.Spec.Replicas), d.Spec.Strategy.Type)
		}
		if d.Spec.Selector == nil {
			t.Fatal("no selector")
		}
		for k, v := range d.Spec.Selector.MatchLabels {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("selector %s=%s does not match the pod template's labels", k, v)
			}
		}
		checkPod(t, d.Spec.Template.Spec, cm, "run")
		checkOnClaim(t, d.Spec.Template.Spec, mustConfig(t, "ConfigMap sluice", mapEnviron(cm.Data)))
		checkProbes(t, d.Spec.Template.Spec.Containers[0], cm)
	})
}

// TestKubernetesPostgres checks the manifests for several workers on one
// PostgreSQL database: the URL from a Secret (never the ConfigMap), no
// volume, several replicas spread over nodes, rolling updates, and a
// disruption budget that keeps all but one running through a node drain.
func TestKubernetesPostgres(t *testing.T) {
	var cm corev1.ConfigMap
	decodeYAML(t, "postgres/configmap.yaml", &cm)
	if db, ok := cm.Data["SLUICE_DB"]; ok {
		t.Errorf("ConfigMap SLUICE_DB=%s: a PostgreSQL URL carries a password; take it from a Secret", db)
	}
	var d appsv1.Deployment
	decodeYAML(t, "postgres/deployment.yaml", &d)
	pod := d.Spec.Template.Spec
	checkPod(t, pod, cm, "run")
	checkProbes(t, pod.Containers[0], cm)
	cfg := mustConfig(t, "ConfigMap "+cm.Name+" with the container's env", containerEnviron(pod.Containers[0], cm))
	if !config.IsPostgresURL(cfg.DB) {
		t.Errorf("SLUICE_DB=%s: want the PostgreSQL URL from the Secret", cfg.DB)
	}
	for _, v := range pod.Volumes {
		if v.PersistentVolumeClaim != nil {
			t.Errorf("volume %s claims %s: workers on PostgreSQL keep nothing in the pod", v.Name, v.PersistentVolumeClaim.ClaimName)
		}
	}
	if deref(d.Spec.Replicas) < 2 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("replicas %d strategy %q; want several replicas and RollingUpdate", deref(d.Spec.Replicas), d.Spec.Strategy.Type)
	}
	if d.Spec.Selector == nil {
		t.Fatal("no selector")
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template's labels", k, v)
		}
	}
	var budget policyv1.PodDisruptionBudget
	decodeYAML(t, "postgres/pdb.yaml", &budget)
	if budget.Spec.Selector == nil || !maps.Equal(budget.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget selects %v; want the Deployment's pods %v", budget.Spec.Selector, d.Spec.Selector.MatchLabels)
	}
	if budget.Spec.MaxUnavailable == nil || budget.Spec.MaxUnavailable.IntValue() < 1 || budget.Spec.MaxUnavailable.IntValue() >= int(deref(d.Spec.Replicas)) {
		t.Errorf("PodDisruptionBudget maxUnavailable %v; want at least 1 (drains can proceed) and below the %d replicas", budget.Spec.MaxUnavailable, deref(d.Spec.Replicas))
	}
}

// checkProbes: the worker serves /healthz on SLUICE_HTTP_ADDR, on every
// interface (the kubelet probes the pod's IP), on a declared container port,
// and both probes ask it there.
func checkProbes(t *testing.T, c corev1.Container, cm corev1.ConfigMap) {
	t.Helper()
	cfg := mustConfig(t, "ConfigMap "+cm.Name+" with the container's env", containerEnviron(c, cm))
	if cfg.HTTPAddr == "" {
		t.Fatal("SLUICE_HTTP_ADDR is not set: nothing answers the probes")
	}
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("SLUICE_HTTP_ADDR=%s: the kubelet probes the pod's IP; listen on every interface (:%s)", cfg.HTTPAddr, port)
	}
	names := map[string]string{}
	for _, p := range c.Ports {
		names[p.Name] = strconv.Itoa(int(p.ContainerPort))
	}
	if !slices.Contains(slices.Collect(maps.Values(names)), port) {
		t.Errorf("no containerPort %s in %v", port, c.Ports)
	}
	for name, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: want an httpGet of /healthz", name)
			continue
		}
		target := p.HTTPGet.Port.String()
		if n, ok := names[target]; ok {
			target = n
		}
		if p.HTTPGet.Path != "/healthz" || target != port {
			t.Errorf("%s: GET %s on port %v; want /healthz on %s", name, p.HTTPGet.Path, p.HTTPGet.Port.String(), port)
		}
		// /healthz reads the database under the driver's 5 s busy timeout at worst.
		if p.TimeoutSeconds < 5 || p.PeriodSeconds < p.TimeoutSeconds {
			t.Errorf("%s: timeout %ds, period %ds; want a timeout of at least 5s within the period", name, p.TimeoutSeconds, p.PeriodSeconds)
		}
	}
}

// TestKubernetesStrict shows that a misspelt field and a missing required
// field both fail: the checks above could not pass a manifest kubectl
// refuses.
func TestKubernetesStrict(t *testing.T) {
	for _, tt := range []struct{ name, manifest, want string }{
		{"misspelt", "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n", `unknown field "replica"`},
		{"missing status", `apiVersion: batch/v1
kind: Job
spec:
  template: {spec: {containers: [{name: x}]}}
  podFailurePolicy:
    rules:
      - action: Ignore
        onPodConditions:
          - type: DisruptionTarget
`, ".spec.podFailurePolicy.rules[0].onPodConditions[0].status"},
	} {
		var v any = &appsv1.Deployment{}
		if strings.Contains(tt.manifest, "kind: Job") {
			v = &batchv1.Job{}
		}
		err := decodeManifest([]byte(tt.manifest), v)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v; want it to name %s", tt.name, err, tt.want)
		}
	}
}
