package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/queue"
)

// authorize passes on an action only when the pages have a token and the
// request carries it (form field "token" or "Authorization: Bearer").
func (s *server) authorize(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Token == "" {
			s.refuse(w, r, http.StatusForbidden, "Refused: the pages are read-only. Set SLUICE_WEB_TOKEN to enable actions.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			s.refuse(w, r, http.StatusBadRequest, "Refused: the form could not be read.")
			return
		}
		if !tokenMatches(s.opts.Token, requestToken(r)) {
			s.refuse(w, r, http.StatusForbidden, "Refused: a wrong or missing token.")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// requestToken is the token a request carries: the bearer token, else the form field.
func requestToken(r *http.Request) string {
	if after, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(after)
	}
	return r.PostForm.Get("token")
}

// tokenMatches compares in constant time; hashing first keeps the time from
// saying the token's length too.
func tokenMatches(want, got string) bool {
	a, b := sha256.Sum256([]byte(want)), sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && got != ""
}

// back is where an action returns to: the form's "back" field when it is a
// path on this site, else fallback.
func back(r *http.Request, fallback string) string {
	b := r.PostForm.Get("back")
	if !strings.HasPrefix(b, "/") || strings.HasPrefix(b, "//") || strings.ContainsAny(b, "\\\r\n") {
		return fallback
	}
	return b
}

// done redirects to where the action came from, with a message code.
func done(w http.ResponseWriter, r *http.Request, to, code string, n int64) {
	u, err := url.Parse(to)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	q := u.Query()
	q.Set("done", code)
	if n > 0 {
		q.Set("n", strconv.FormatInt(n, 10))
	}
	q.Del("before") // the page changed under the cursor; start over
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// retry queues failed or cancelled tasks again: the one in "one", else the
// selected "id"s, else the whole failure group "group" within "since".
func (s *server) retry(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := r.PostForm
	var ids []int64
	switch {
	case f.Get("one") != "":
		ids = parseIDs([]string{f.Get("one")})
	case f.Has("group"):
		q := failureQuery{Group: f.Get("group"), Window: f.Get("since")}
		q = parseFailureQuery(url.Values{"group": {q.Group}, "since": {q.Window}})
		var err error
		if ids, err = s.store.FailedIDs(ctx, q.params(s.opts.Now())); err != nil {
			s.fail(w, r, err)
			return
		}
	default:
		ids = parseIDs(f["id"])
	}
	if ids == nil {
		s.refuse(w, r, http.StatusBadRequest, "Nothing to retry: select tasks first.")
		return
	}
	if err := s.store.Retry(ctx, ids); err != nil {
		s.actionFailed(w, r, "retry", err, queue.ErrNotFound, queue.ErrNotRetryable, queue.ErrKeyHeld)
		return
	}
	done(w, r, back(r, "/failures"), "retried", int64(len(ids)))
}

// parseIDs reads task ids; nil when any is not a number (or there are none).
func parseIDs(vs []string) []int64 {
	var ids []int64
	for _, v := range vs {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil
		}
		ids = append(ids, id)
	}
	return ids
}

func (s *server) cancel(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.refuse(w, r, http.StatusNotFound, "No such task.")
		return
	}
	if _, err := s.store.Cancel(r.Context(), []int64{id}); err != nil {
		s.actionFailed(w, r, "cancel", err, queue.ErrNotFound, queue.ErrNotCancellable)
		return
	}
	done(w, r, back(r, fmt.Sprintf("/tasks/%d", id)), "cancelled", 0)
}

func (s *server) scheduleAction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("name")
	var (
		err  error
		code string
		n    int64
	)
	switch r.PathValue("action") {
	case "pause":
		err, code = s.store.PauseSchedule(ctx, name), "paused"
	case "resume":
		_, err = s.store.ResumeSchedule(ctx, name)
		code = "resumed"
	case "run":
		n, err = s.store.RunSchedule(ctx, name)
		code = "ran"
	default:
		s.refuse(w, r, http.StatusNotFound, "No such action.")
		return
	}
	if err != nil {
		s.actionFailed(w, r, "schedule "+r.PathValue("action"), err, queue.ErrScheduleNotFound, queue.ErrUnknownZone)
		return
	}
	done(w, r, back(r, "/schedules"), code, n)
}

// actionFailed answers an action the store refused. Errors of the kinds
// listed are the operator's to read (they name tasks and states); any other
// is logged and hidden.
func (s *server) actionFailed(w http.ResponseWriter, r *http.Request, op string, err error, shown ...error) {
	for _, kind := range shown {
		if errors.Is(err, kind) {
			s.refuse(w, r, http.StatusConflict, "Could not "+op+": "+err.Error())
			return
		}
	}
	s.fail(w, r, err)
}
