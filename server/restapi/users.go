package restapi

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/sealfeed/sealfeed/server/store"
)

// Limits of user addressing (API-090, API-092).
const (
	MaxUsers       = 1000 // users in one publication's to_user
	MaxUserBytes   = 255  // a user, as a token's subject (§6.8)
	resolveWorkers = 16   // device lookups of one request in flight at once
)

// validUsers checks a publication's to_user (API-090): 1 to MaxUsers
// users of 1 to MaxUserBytes bytes of UTF-8, none twice.
func validUsers(users []string, i int) error {
	if len(users) == 0 || len(users) > MaxUsers {
		return invalid{fmt.Sprintf("%sto_user must list 1 to %d users (API-090)", where(i), MaxUsers)}
	}
	seen := make(map[string]struct{}, len(users))
	for j, u := range users {
		if len(u) == 0 || len(u) > MaxUserBytes || !utf8.ValidString(u) {
			return invalid{fmt.Sprintf("%sto_user[%d]: a user is 1 to %d bytes of UTF-8 (API-090)", where(i), j, MaxUserBytes)}
		}
		if _, dup := seen[u]; dup {
			return invalid{fmt.Sprintf("%sto_user[%d]: duplicate user (API-090)", where(i), j)}
		}
		seen[u] = struct{}{}
	}
	return nil
}

// resolveUsers replaces the recipients of each publication addressed to
// users by the devices the directory knows of them (API-091): for each user
// in the order of to_user, its devices ordered by device label then client
// ID, a client ID reached through an earlier user of the same publication
// left out. A publication whose users have no known device is dropped. It
// answers the request itself and returns false when the directory fails or
// does not answer within the request's store deadline (503, API-041), when
// the devices exceed MaxRecipients (422, API-092), or when no message would
// be stored (422 unknown-users, API-093).
func (a *API) resolveUsers(w http.ResponseWriter, r *http.Request, pubs []store.Publication, users [][]string) ([]store.Publication, bool) {
	dir, ok := a.cfg.Store.(store.Directory)
	if !ok {
		a.writeProblem(w, 422, "invalid-message", "Invalid message", "API-090", "this server does not record the devices of users")
		return nil, false
	}
	var distinct []string
	index := map[string]int{}
	for _, us := range users {
		for _, u := range us {
			if _, ok := index[u]; !ok {
				index[u] = len(distinct)
				distinct = append(distinct, u)
			}
		}
	}
	found, err := bounded(r.Context(), func(ctx context.Context) ([][]store.Device, error) {
		return lookUpDevices(ctx, dir, distinct)
	})
	if errors.Is(err, errors.ErrUnsupported) { // a wrapper over an engine without a directory
		a.writeProblem(w, 422, "invalid-message", "Invalid message", "API-090", "this server does not record the devices of users")
		return nil, false
	}
	if err != nil {
		a.log.Error("resolving users failed", "request_id", w.Header().Get(HeaderRequestID), "err", err)
		a.unavailable(w, "Message store unavailable")
		return nil, false
	}
	total := 0
	out := pubs[:0:0]
	for i := range pubs {
		if users[i] == nil {
			out = append(out, pubs[i])
			continue
		}
		p := pubs[i]
		p.To, p.Devices = nil, nil
		reached := map[[32]byte]struct{}{}
		for _, u := range users[i] {
			for _, d := range found[index[u]] {
				if _, dup := reached[d.ClientID]; dup {
					continue
				}
				reached[d.ClientID] = struct{}{}
				p.To = append(p.To, d.ClientID)
				p.Devices = append(p.Devices, store.UserDevice{User: u, Device: d.Device})
			}
		}
		total += len(p.To)
		if total > MaxRecipients {
			a.writeProblem(w, 422, "invalid-message", "Invalid message", "API-092",
				fmt.Sprintf("%sto_user: the users have more than %d devices in all", where(bulkIndex(r, i)), MaxRecipients))
			return nil, false
		}
		if len(p.To) > 0 {
			out = append(out, p)
		}
	}
	for _, p := range out {
		if len(p.To) > 0 {
			return out, true
		}
	}
	a.writeProblem(w, 422, "unknown-users", "No device is known for any user of the request", "API-093", "")
	return nil, false
}

// bulkIndex is the index where() takes for publication i of request r:
// -1 for the single publication of POST /v1/messages.
func bulkIndex(r *http.Request, i int) int {
	if r.URL.Path != "/v1/messages/bulk" {
		return -1
	}
	return i
}

// lookUpDevices reads the devices of each user, resolveWorkers at a time,
// each list ordered by device label then client ID.
func lookUpDevices(ctx context.Context, dir store.Directory, users []string) ([][]store.Device, error) {
	found := make([][]store.Device, len(users))
	errs := make([]error, len(users))
	sem := make(chan struct{}, resolveWorkers)
	var wg sync.WaitGroup
	for i, u := range users {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ds, err := dir.Devices(ctx, u)
			slices.SortFunc(ds, func(a, b store.Device) int {
				return cmp.Or(cmp.Compare(a.Device, b.Device), cmp.Compare(hex.EncodeToString(a.ClientID[:]), hex.EncodeToString(b.ClientID[:])))
			})
			found[i], errs[i] = ds, err
		}()
	}
	wg.Wait()
	return found, errors.Join(errs...)
}

// unknownUsers lists, in request order, the users of users for whom res
// holds no message (API-094). It depends only on the request and the
// answer, so a replay (API-026) lists the same users.
func unknownUsers(users [][]string, res []store.Assigned) []string {
	reached := map[string]struct{}{}
	for _, m := range res {
		if m.User != "" {
			reached[m.User] = struct{}{}
		}
	}
	out := []string{}
	for _, us := range users {
		for _, u := range us {
			if _, ok := reached[u]; !ok {
				reached[u] = struct{}{} // listed once
				out = append(out, u)
			}
		}
	}
	return out
}
