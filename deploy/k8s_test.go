package deploy

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

const k8sDir = "k8s"

// The structs below hold the Kubernetes fields Sluice's manifests use, under
// their API names. Decoding is strict (KnownFields): a misspelt field, which
// kubectl would reject or a lenient apply would drop, fails the test.

type k8sMeta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type k8sHeader struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   k8sMeta `yaml:"metadata"`
}

type configMap struct {
	k8sHeader `yaml:",inline"`
	Data      map[string]string `yaml:"data"`
}

type pvc struct {
	k8sHeader `yaml:",inline"`
	Spec      struct {
		AccessModes []string `yaml:"accessModes"`
		Resources   struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
	} `yaml:"spec"`
}

type cronJob struct {
	k8sHeader `yaml:",inline"`
	Spec      struct {
		Schedule                   string `yaml:"schedule"`
		ConcurrencyPolicy          string `yaml:"concurrencyPolicy"`
		StartingDeadlineSeconds    int64  `yaml:"startingDeadlineSeconds"`
		SuccessfulJobsHistoryLimit int    `yaml:"successfulJobsHistoryLimit"`
		FailedJobsHistoryLimit     int    `yaml:"failedJobsHistoryLimit"`
		JobTemplate                struct {
			Spec jobSpec `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
}

type jobSpec struct {
	ActiveDeadlineSeconds int64            `yaml:"activeDeadlineSeconds"`
	BackoffLimit          int              `yaml:"backoffLimit"`
	PodFailurePolicy      podFailurePolicy `yaml:"podFailurePolicy"`
	Template              podTemplate      `yaml:"template"`
}

type podFailurePolicy struct {
	Rules []struct {
		Action      string `yaml:"action"`
		OnExitCodes *struct {
			ContainerName string `yaml:"containerName"`
			Operator      string `yaml:"operator"`
			Values        []int  `yaml:"values"`
		} `yaml:"onExitCodes"`
		OnPodConditions []struct {
			Type string `yaml:"type"`
		} `yaml:"onPodConditions"`
	} `yaml:"rules"`
}

type deployment struct {
	k8sHeader `yaml:",inline"`
	Spec      struct {
		Replicas int `yaml:"replicas"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template podTemplate `yaml:"template"`
	} `yaml:"spec"`
}

type podTemplate struct {
	Metadata k8sMeta `yaml:"metadata"`
	Spec     podSpec `yaml:"spec"`
}

type podSpec struct {
	RestartPolicy                 string `yaml:"restartPolicy"`
	TerminationGracePeriodSeconds int64  `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot   bool  `yaml:"runAsNonRoot"`
		RunAsUser      int64 `yaml:"runAsUser"`
		RunAsGroup     int64 `yaml:"runAsGroup"`
		FSGroup        int64 `yaml:"fsGroup"`
		SeccompProfile struct {
			Type string `yaml:"type"`
		} `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name                  string `yaml:"name"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
		EmptyDir *struct{} `yaml:"emptyDir"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Args    []string `yaml:"args"`
	EnvFrom []struct {
		ConfigMapRef struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"` // a number or a port's name
	} `yaml:"httpGet"`
	InitialDelaySeconds int64 `yaml:"initialDelaySeconds"`
	PeriodSeconds       int64 `yaml:"periodSeconds"`
	TimeoutSeconds      int64 `yaml:"timeoutSeconds"`
	FailureThreshold    int64 `yaml:"failureThreshold"`
}

// decodeYAML strictly decodes the one document in a manifest into v.
func decodeYAML(tb testing.TB, name string, v any) {
	tb.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(tb, filepath.Join(k8sDir, name))))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

func sec(n int64) time.Duration { return time.Duration(n) * time.Second }

// checkPod checks what the CronJob's and the Deployment's pods share.
func checkPod(t *testing.T, p podSpec, cm configMap, command string) {
	t.Helper()
	cfg := mustConfig(t, "ConfigMap sluice", mapEnviron(cm.Data))
	checkOrder(t, command, []string{"SLUICE_TIMEOUT", "SLUICE_SHUTDOWN_GRACE", "terminationGracePeriodSeconds"},
		cfg.Timeout, cfg.ShutdownGrace, sec(p.TerminationGracePeriodSeconds))
	sc := p.SecurityContext
	if !sc.RunAsNonRoot || sc.RunAsUser == 0 || sc.FSGroup == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, a non-root runAsUser and an fsGroup (so the volume is writable)", sc)
	}
	if len(p.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(p.Containers))
	}
	c := p.Containers[0]
	if !slices.Equal(c.Args, []string{command}) {
		t.Errorf("args %q, want [%s]", c.Args, command)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef.Name != cm.Metadata.Name {
		t.Errorf("envFrom %+v, want the ConfigMap %s", c.EnvFrom, cm.Metadata.Name)
	}
	if c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation ||
		!slices.Equal(c.SecurityContext.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container securityContext %+v: want allowPrivilegeEscalation false and capabilities drop ALL", c.SecurityContext)
	}
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

func TestKubernetes(t *testing.T) {
	var cm configMap
	decodeYAML(t, "configmap.yaml", &cm)
	var claim pvc
	decodeYAML(t, "pvc.yaml", &claim)
	if claim.Metadata.Name != "sluice-data" || !slices.Equal(claim.Spec.AccessModes, []string{"ReadWriteOnce"}) {
		t.Errorf("PersistentVolumeClaim %s %v, want sluice-data ReadWriteOnce", claim.Metadata.Name, claim.Spec.AccessModes)
	}

	t.Run("cronjob", func(t *testing.T) {
		var cj cronJob
		decodeYAML(t, "cronjob.yaml", &cj)
		if cj.APIVersion != "batch/v1" || cj.Kind != "CronJob" {
			t.Errorf("%s %s, want batch/v1 CronJob", cj.APIVersion, cj.Kind)
		}
		if _, err := cron.ParseStandard(cj.Spec.Schedule); err != nil {
			t.Errorf("schedule: %v", err)
		}
		if cj.Spec.ConcurrencyPolicy != "Forbid" {
			t.Errorf("concurrencyPolicy %q, want Forbid", cj.Spec.ConcurrencyPolicy)
		}
		job := cj.Spec.JobTemplate.Spec
		pod := job.Template.Spec
		if pod.RestartPolicy != "Never" {
			t.Errorf("restartPolicy %q, want Never (podFailurePolicy requires it)", pod.RestartPolicy)
		}
		checkPod(t, pod, cm, "drain")

		cfg := mustConfig(t, "ConfigMap sluice", mapEnviron(cm.Data))
		if cfg.DrainDeadline <= 0 {
			t.Error("SLUICE_DRAIN_DEADLINE is 0: a one-shot drain needs a finite deadline below activeDeadlineSeconds")
		}
		checkOrder(t, "cronjob", []string{"SLUICE_DRAIN_DEADLINE + SLUICE_TIMEOUT + SLUICE_KILL_GRACE", "activeDeadlineSeconds"},
			cfg.DrainDeadline+cfg.Timeout+cfg.KillGrace, sec(job.ActiveDeadlineSeconds))

		var fails78 bool
		for _, r := range job.PodFailurePolicy.Rules {
			if r.Action == "FailJob" && r.OnExitCodes != nil && r.OnExitCodes.Operator == "In" &&
				r.OnExitCodes.ContainerName == pod.Containers[0].Name && slices.Contains(r.OnExitCodes.Values, 78) {
				fails78 = true
			}
		}
		if !fails78 {
			t.Error("no podFailurePolicy rule fails the Job on exit code 78 (bad configuration: retrying cannot help)")
		}
	})

	t.Run("deployment", func(t *testing.T) {
		var d deployment
		decodeYAML(t, "deployment.yaml", &d)
		if d.APIVersion != "apps/v1" || d.Kind != "Deployment" {
			t.Errorf("%s %s, want apps/v1 Deployment", d.APIVersion, d.Kind)
		}
		if d.Spec.Replicas != 1 || d.Spec.Strategy.Type != "Recreate" {
			t.Errorf("replicas %d strategy %q, want 1 and Recreate (one pod owns the ReadWriteOnce volume)", d.Spec.Replicas, d.Spec.Strategy.Type)
		}
		for k, v := range d.Spec.Selector.MatchLabels {
			if d.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("selector %s=%s does not match the pod template's labels", k, v)
			}
		}
		checkPod(t, d.Spec.Template.Spec, cm, "run")
		checkProbes(t, d.Spec.Template.Spec.Containers[0], cm)
	})
}

// checkProbes: the worker serves /healthz on SLUICE_HTTP_ADDR, on every
// interface (the kubelet probes the pod's IP), on a declared container port,
// and both probes ask it there.
func checkProbes(t *testing.T, c container, cm configMap) {
	t.Helper()
	environ := mapEnviron(cm.Data)
	for _, e := range c.Env {
		environ = append(environ, e.Name+"="+e.Value) // env wins over envFrom
	}
	cfg := mustConfig(t, "ConfigMap sluice with the container's env", environ)
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
		names[p.Name] = strconv.Itoa(p.ContainerPort)
	}
	if !slices.Contains(slices.Collect(maps.Values(names)), port) {
		t.Errorf("no containerPort %s in %v", port, c.Ports)
	}
	for name, p := range map[string]*probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: want an httpGet of /healthz", name)
			continue
		}
		target := fmt.Sprint(p.HTTPGet.Port)
		if n, ok := names[target]; ok {
			target = n
		}
		if p.HTTPGet.Path != "/healthz" || target != port {
			t.Errorf("%s: GET %s on port %v; want /healthz on %s", name, p.HTTPGet.Path, p.HTTPGet.Port, port)
		}
		// /healthz reads the database under the driver's 5 s busy timeout at worst.
		if p.TimeoutSeconds < 5 || p.PeriodSeconds < p.TimeoutSeconds {
			t.Errorf("%s: timeout %ds, period %ds; want a timeout of at least 5s within the period", name, p.TimeoutSeconds, p.PeriodSeconds)
		}
	}
}

// TestKubernetesStrict shows a misspelt field fails the decode.
func TestKubernetesStrict(t *testing.T) {
	dec := yaml.NewDecoder(bytes.NewReader([]byte("spec:\n  replicas: 1\n  replica: 2\n")))
	dec.KnownFields(true)
	var d deployment
	if err := dec.Decode(&d); err == nil {
		t.Error("decoding a misspelt field: want an error")
	}
}
