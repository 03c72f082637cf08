package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
)

// A Go program brings its own handlers and gets the whole sluice command
// line with them: its main would pass os.Args[1:], os.Environ() and the
// standard streams, and exit with cli.ExitCode(err).
func ExampleMain() {
	dir, err := os.MkdirTemp("", "sluice-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "sluice.db")

	reg := jobs.NewRegistry()
	reg.Register("resize_image", func(ctx context.Context, payload json.RawMessage) ([]byte, error) {
		var p struct {
			Path  string `json:"path"`
			Width int    `json:"width"`
		}
		if err := json.Unmarshal(payload, &p); err != nil {
			return nil, jobs.Permanent(fmt.Errorf("bad payload: %w", err))
		}
		info, _ := jobs.InfoFrom(ctx) // the task's id, attempt and deadline
		return json.Marshal(map[string]any{"thumbnail": strings.TrimSuffix(p.Path, ".png") + "-small.png",
			"width": p.Width, "task": info.TaskID})
	})

	var out bytes.Buffer
	m := &cli.Main{Jobs: reg, Environ: []string{"SLUICE_DB=" + db, "SLUICE_WORKERS=2"}, Stdout: &out, Stderr: os.Stderr}
	ctx := context.Background()
	for _, args := range [][]string{
		{"enqueue", "resize_image", `{"path":"cat.png","width":128}`},
		{"drain"},
	} {
		if err := m.Run(ctx, args); err != nil {
			cli.PrintError(os.Stderr, err)
			os.Exit(cli.ExitCode(err))
		}
	}
	fmt.Println(strings.Fields(out.String())[:4]) // the id, then the start of the drain's summary

	store, err := queue.Open(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	task, err := store.Get(ctx, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(task.State, string(task.Result))
	// Output:
	// [1 drained: 1 ran,]
	// succeeded {"task":1,"thumbnail":"cat-small.png","width":128}
}
