package modproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/sync/errgroup"

	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/modproxy/policy"
)

// AdvisoriesHeader names, on an answer the policy flagged, the advisories
// that affect the version.
const AdvisoriesHeader = "X-Pitstop-Advisories"

// gateParallel bounds the .info fetches made to learn the times of a
// list's versions.
const gateParallel = 8

// gate applies h.Policy to a request before it is served: lists, @latest
// and queries are answered here with what the policy does not allow left
// out; a .info, .mod or .zip of a refused version is answered 403 with
// the rule and its reason. It reports whether it answered.
func (h *Handler) gate(w http.ResponseWriter, r *http.Request, req Request) bool {
	switch req.Kind {
	case KindList:
		h.gateList(w, r, req)
		return true
	case KindLatest:
		h.gateLatest(w, r, req, "latest")
		return true
	case KindInfo:
		if req.Query {
			h.gateQuery(w, r, req)
			return true
		}
	case KindMod, KindZip:
	default:
		return false
	}
	p := h.Policy.Policy()
	d, err := h.decide(r.Context(), p, req.Path, req.Version)
	if err != nil {
		h.fail(w, req, err)
		return true
	}
	h.record(r, req, req.Version, d)
	if !d.Served() {
		h.refuse(w, req.Path, req.Version, d)
		return true
	}
	if len(d.Advisories) > 0 {
		w.Header().Set(AdvisoriesHeader, strings.Join(d.Advisories, ", "))
	}
	return false
}

// Explain decides module@version under the policy in force, gathering the
// facts (time, retraction, advisories) as a request would.
func (h *Handler) Explain(ctx context.Context, mod, version string) (policy.Decision, error) {
	h.Init()
	if h.Policy == nil {
		return policy.Decision{}, errors.New("no policy is configured")
	}
	if err := module.Check(mod, version); err != nil {
		return policy.Decision{}, err
	}
	return h.decide(ctx, h.Policy.Policy(), mod, version)
}

func (h *Handler) refuse(w http.ResponseWriter, mod, version string, d policy.Decision) {
	h.plain(w, http.StatusForbidden, d.Message(mod, version))
}

func (h *Handler) record(r *http.Request, req Request, version string, d policy.Decision) {
	client := r.RemoteAddr
	if host, _, err := net.SplitHostPort(client); err == nil {
		client = host
	}
	what := req.Kind.String()
	if req.Kind == KindInfo && req.Query {
		what = "query " + req.Version
	}
	h.statusPolicy(req.Path, version, d)
	h.Policy.Record(policy.Record{
		Client: client, Module: req.Path, Version: version, Decision: d.Verdict,
		Rule: d.Rule, Reason: d.Reason, Advisories: d.Advisories, Request: what,
	})
}

// decide gathers what the policy needs to know of mod@version and
// decides.
func (h *Handler) decide(ctx context.Context, p *policy.Policy, mod, version string) (policy.Decision, error) {
	var retracted func(string) bool
	if _, needRetracted, _ := p.Needs(mod, version); needRetracted {
		// Unknown retractions retract nothing (as in the go command): an
		// upstream that is down must not make cached versions unservable.
		list, err := h.versions(ctx, mod)
		if err != nil {
			h.log.Debug("retractions unknown", "module", mod, "err", err)
		}
		retracted = h.retractedIn(ctx, mod, list)
	}
	return h.decideOne(ctx, p, mod, version, retracted)
}

func (h *Handler) decideOne(ctx context.Context, p *policy.Policy, mod, version string, retracted func(string) bool) (policy.Decision, error) {
	s := policy.Subject{Module: mod, Version: version}
	needTime, needRetracted, needVulns := p.Needs(mod, version)
	if needTime {
		t, err := h.versionTime(ctx, mod, version)
		if err != nil {
			return policy.Decision{}, err
		}
		s.Time = t
	}
	if needRetracted && retracted != nil {
		s.Retracted = retracted(version)
	}
	if db := h.Policy.VulnDB(); needVulns && db != nil {
		advs, err := db.Affecting(mod, version)
		if err != nil {
			return policy.Decision{}, fmt.Errorf("policy: %w", err)
		}
		for _, a := range advs {
			s.Advisories = append(s.Advisories, policy.Advisory{ID: a.ID, Summary: a.Summary})
		}
	}
	return p.Decide(s, time.Now()), nil
}

// versionTime is mod@version's .info Time.
func (h *Handler) versionTime(ctx context.Context, mod, version string) (time.Time, error) {
	data, err := h.metaBytes(ctx, KindInfo, mod, version)
	if err != nil {
		return time.Time{}, err
	}
	var info modfetch.RevInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return time.Time{}, fmt.Errorf("%s@%s: invalid .info: %v", mod, version, err)
	}
	return info.Time, nil
}

// versions is mod's upstream version list.
func (h *Handler) versions(ctx context.Context, mod string) ([]string, error) {
	data, err := h.metaBytes(ctx, KindList, mod, "")
	if err != nil {
		return nil, err
	}
	return modfetch.ParseList(data), nil
}

// retractedIn returns whether a version is retracted by the go.mod of the
// highest version of list (all of it, whatever the policy shows: that is
// where the go command reads retractions).
func (h *Handler) retractedIn(ctx context.Context, mod string, list []string) func(string) bool {
	latest := modfetch.Highest(list)
	if latest == "" {
		return func(string) bool { return false }
	}
	data, err := h.metaBytes(ctx, KindMod, mod, latest)
	if err != nil {
		h.log.Debug("retractions unknown", "module", mod, "version", latest, "err", err)
		return func(string) bool { return false }
	}
	iv, err := modfetch.Retractions(data)
	if err != nil {
		h.log.Debug("retractions unknown", "module", mod, "version", latest, "err", err)
	}
	return func(v string) bool { return modfetch.IsRetracted(v, iv) }
}

// allowed returns mod's versions the policy lists, and the whole list.
func (h *Handler) allowed(ctx context.Context, p *policy.Policy, mod string) (kept, all []string, err error) {
	all, err = h.versions(ctx, mod)
	if err != nil {
		return nil, nil, err
	}
	retracted := h.retractedIn(ctx, mod, all)
	// Fetch the .info files a cooldown needs and memory lacks, several
	// at a time; then decide in order, from memory.
	ep, err := module.EscapePath(mod)
	if err != nil {
		return nil, nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(gateParallel)
	for _, v := range all {
		if needTime, _, _ := p.Needs(mod, v); !needTime || !canonical(v) {
			continue
		}
		if ev, err := module.EscapeVersion(v); err == nil && h.memHit(ep+"/@v/"+ev+".info") == nil {
			g.Go(func() error {
				_, err := h.metaBytes(gctx, KindInfo, mod, v)
				if errors.Is(err, fs.ErrNotExist) {
					return nil // listed but gone: decided (and left out) below
				}
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	for _, v := range all {
		if !canonical(v) {
			continue
		}
		d, err := h.decideOne(ctx, p, mod, v, retracted)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if d.Listed() {
			kept = append(kept, v)
		}
	}
	return kept, all, nil
}

// canonical reports whether a list line is a canonical version (others
// are never listed to clients under a policy).
func canonical(v string) bool { return semver.IsValid(v) && module.CanonicalVersion(v) == v }

// metaRequest is the Request for a small file of mod (a list, @latest, or
// the .info or .mod of a canonical version).
func metaRequest(kind Kind, mod, version string) (Request, error) {
	ep, err := module.EscapePath(mod)
	if err != nil {
		return Request{}, err
	}
	req := Request{Kind: kind, Path: mod, Version: version}
	switch kind {
	case KindList:
		req.Key = ep + "/@v/list"
	case KindLatest:
		req.Key = ep + "/@latest"
	case KindInfo, KindMod:
		ev, err := module.EscapeVersion(version)
		if err != nil {
			return Request{}, err
		}
		req.Key = ep + "/@v/" + ev + "." + kind.String()
	default:
		return Request{}, fmt.Errorf("no small file of kind %v", kind)
	}
	return req, nil
}

func (h *Handler) gateList(w http.ResponseWriter, r *http.Request, req Request) {
	kept, _, err := h.allowed(r.Context(), h.Policy.Policy(), req.Path)
	if err != nil {
		h.fail(w, req, err)
		return
	}
	var b strings.Builder
	for _, v := range kept {
		b.WriteString(v)
		b.WriteByte('\n')
	}
	h.m.request(req.Kind, resHit, int64(b.Len()))
	writeAnswer(w, r, textType, []byte(b.String()))
}

// gateLatest answers @latest (and the "latest" query): the highest
// version the policy lists, else, for a module with no tagged versions,
// the upstream's @latest if the policy serves it.
func (h *Handler) gateLatest(w http.ResponseWriter, r *http.Request, req Request, query string) {
	ctx := r.Context()
	p := h.Policy.Policy()
	kept, all, err := h.allowed(ctx, p, req.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		h.fail(w, req, err)
		return
	}
	if v := modfetch.Highest(kept); v != "" {
		h.serveInfoOf(w, r, req, v, p)
		return
	}
	if len(all) > 0 {
		// Every version is refused or hidden: say why for the newest.
		v := modfetch.Highest(all)
		d, derr := h.decide(ctx, p, req.Path, v)
		if derr != nil {
			h.fail(w, req, derr)
			return
		}
		h.record(r, req, v, d)
		h.plain(w, http.StatusForbidden, fmt.Sprintf("%s@%s: no version is allowed by pitstop proxy policy; the newest, %s, %s: %s",
			req.Path, query, v, d.Rule, d.Reason))
		return
	}
	data, err := h.metaBytes(ctx, KindLatest, req.Path, "")
	if err != nil {
		h.fail(w, req, err)
		return
	}
	h.serveResolved(w, r, req, data, p)
}

// gateQuery answers a version query: resolved from the list the policy
// allows where the go command would resolve it from a list, else by the
// upstream and then checked.
func (h *Handler) gateQuery(w http.ResponseWriter, r *http.Request, req Request) {
	pick, err := modfetch.PickQuery(req.Version)
	if err != nil {
		h.plain(w, http.StatusBadRequest, fmt.Sprintf("%s@%s: %v", req.Path, req.Version, err))
		return
	}
	if pick == nil {
		data, err := h.metaBytes(r.Context(), KindInfo, req.Path, req.Version)
		if err != nil {
			h.fail(w, req, err)
			return
		}
		h.serveResolved(w, r, req, data, h.Policy.Policy())
		return
	}
	if q := req.Version; q == "latest" || q == "upgrade" || q == "patch" {
		h.gateLatest(w, r, req, q)
		return
	}
	p := h.Policy.Policy()
	kept, _, err := h.allowed(r.Context(), p, req.Path)
	if err != nil {
		h.fail(w, req, err)
		return
	}
	v := pick(kept)
	if v == "" {
		h.plain(w, http.StatusNotFound, fmt.Sprintf("not found: %s@%s: no matching version is allowed by pitstop proxy policy (pitstop proxy policy explain MODULE@VERSION says why)", req.Path, req.Version))
		return
	}
	h.serveInfoOf(w, r, req, v, p)
}

// serveResolved serves an .info the upstream resolved, if the policy
// serves its version.
func (h *Handler) serveResolved(w http.ResponseWriter, r *http.Request, req Request, data []byte, p *policy.Policy) {
	var info modfetch.RevInfo
	if err := json.Unmarshal(data, &info); err != nil || module.Check(req.Path, info.Version) != nil {
		h.fail(w, req, fmt.Errorf("%s@%s: invalid .info from upstream", req.Path, req.Version))
		return
	}
	d, err := h.decide(r.Context(), p, req.Path, info.Version)
	if err != nil {
		h.fail(w, req, err)
		return
	}
	h.record(r, req, info.Version, d)
	if !d.Served() {
		h.refuse(w, req.Path, info.Version, d)
		return
	}
	h.m.request(req.Kind, resHit, int64(len(data)))
	writeAnswer(w, r, jsonType, data)
}

// serveInfoOf serves the .info of v, a version the policy lists.
func (h *Handler) serveInfoOf(w http.ResponseWriter, r *http.Request, req Request, v string, p *policy.Policy) {
	data, err := h.metaBytes(r.Context(), KindInfo, req.Path, v)
	if err != nil {
		h.fail(w, req, err)
		return
	}
	d, err := h.decide(r.Context(), p, req.Path, v)
	if err != nil {
		h.fail(w, req, err)
		return
	}
	h.record(r, req, v, d)
	if len(d.Advisories) > 0 {
		w.Header().Set(AdvisoriesHeader, strings.Join(d.Advisories, ", "))
	}
	h.m.request(req.Kind, resHit, int64(len(data)))
	writeAnswer(w, r, jsonType, data)
}

// metaBytes returns a small file (list, latest, info, mod) the way a
// request for it is answered: memory, the store, else one upstream fetch
// shared with concurrent requests for it.
func (h *Handler) metaBytes(ctx context.Context, kind Kind, mod, version string) ([]byte, error) {
	req, err := metaRequest(kind, mod, version)
	if err != nil {
		return nil, err
	}
	e := h.memHit(req.Key)
	if e == nil {
		e = h.fleetMeta(ctx, req)
	}
	if e != nil {
		return e.data, nil
	}
	var stale []byte
	if obj, err := h.Store.Get(ctx, req.Key); err == nil {
		data, rerr := readAllLimit(obj.Body, modfetch.MaxMetaSize)
		obj.Close()
		if rerr == nil {
			if h.fresh(req, obj.ModTime) {
				h.remember(req, data, obj.ModTime)
				return data, nil
			}
			stale = data
		}
	}
	if msg, ok := h.isNegative(req.Key); ok && stale == nil {
		return nil, negativeError(msg)
	}
	ch := h.sf.DoChan(req.Key, func() (any, error) { return h.fetchMeta(req) })
	var timer <-chan time.Time
	if stale != nil {
		t := time.NewTimer(h.StaleWait)
		defer t.Stop()
		timer = t.C
	}
	select {
	case res := <-ch:
		if res.Err == nil {
			return res.Val.(*memEntry).data, nil
		}
		if stale != nil {
			// As for clients: a stale list beats none when the upstream
			// fails, so cached modules stay decidable offline.
			return stale, nil
		}
		return nil, res.Err
	case <-timer:
		return stale, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// writeAnswer writes a computed answer (it depends on the policy and the
// time, so it is not cached by clients beyond the list lifetime).
func writeAnswer(w http.ResponseWriter, r *http.Request, ctype string, data []byte) {
	hd := w.Header()
	hd.Set(hdrCType, ctype)
	hd.Set(hdrCLen, fmt.Sprint(len(data)))
	hd.Set(hdrCacheCtl, "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.Copy(w, strings.NewReader(string(data)))
	}
}

// negativeError is a remembered not-found answer.
type negativeError string

func (e negativeError) Error() string        { return string(e) }
func (e negativeError) Is(target error) bool { return target == fs.ErrNotExist }
