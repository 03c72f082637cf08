// Package deploy holds Sluice's deployment files (systemd units, Fly.io
// configurations, Kubernetes manifests) and the tests that check them, and the
// root Dockerfile and fly.toml, offline against Sluice's own settings.
package deploy
