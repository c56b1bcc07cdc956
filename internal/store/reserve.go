package store

import (
	"context"
	"errors"
	"fmt"
)

// ErrFull is returned (wrapped) when a write finds no room under the
// store's MaxSize: what is stored (less what eviction may remove) plus what
// other writers have reserved leaves too little. Unlike ErrTooLarge it is
// temporary: the write may succeed once other writes end.
var ErrFull = errors.New("no room under the store's maximum size for the bytes in flight")

// Reserver is a Writer that can reserve room for the whole object before
// writing it, e.g. from a Content-Length or a zip's declared size, so that
// a write that cannot fit fails at once instead of after streaming. The
// disk store's Writer is one. Writes beyond the reservation reserve more.
type Reserver interface {
	// Reserve makes sure n bytes of the object (all of it, not n more)
	// fit under the store's cap, evicting least-recently-used objects if
	// needed. It fails with ErrTooLarge if n exceeds the cap, with ErrFull
	// if eviction cannot make room.
	Reserve(n int64) error
}

// SetMaxSize changes the cap (0: unlimited) and evicts if the store is
// over it; for a cap computed after Open, from the store's own size.
func (d *Disk) SetMaxSize(n int64) error {
	if n < 0 {
		return fmt.Errorf("store: negative maximum size %d", n)
	}
	d.maxSize.Store(n)
	d.maybeEvict()
	return nil
}

// Reserved reports the bytes writers in flight have reserved under the
// cap (always 0 for an unlimited store).
func (d *Disk) Reserved() int64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.reserved
}

// Reserve implements Reserver.
func (w *diskWriter) Reserve(n int64) error {
	if w.done.Load() {
		return errors.New("store: Reserve after Commit or Abort")
	}
	if n <= w.reserved {
		return nil
	}
	if err := w.reserve(n); err != nil {
		if w.err == nil {
			w.err = err
		}
		return err
	}
	return nil
}

// reserve grows w's reservation to n bytes. In an unlimited store it only
// records n. Otherwise it takes the room from the store's cap, evicting
// least-recently-used objects to make it.
func (w *diskWriter) reserve(n int64) error {
	d := w.d
	limit := d.maxSize.Load()
	if limit <= 0 {
		w.reserved = n
		return nil
	}
	need := d.Room(n)
	if need > limit {
		return fmt.Errorf("store: %s: %w (%d bytes)", w.key, ErrTooLarge, limit)
	}
	if err := d.LoadIndex(); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		d.mu.Lock()
		more := need - w.held
		if d.bytes+d.reserved+more <= limit {
			d.reserved += more
			w.held = need
			d.mu.Unlock()
			w.reserved = n
			return nil
		}
		inFlight := d.reserved
		d.mu.Unlock()
		if attempt == 3 || inFlight+more > limit {
			return fmt.Errorf("store: %s: %w (%d bytes wanted, cap %d, %d reserved by other writes)", w.key, ErrFull, n, limit, inFlight-w.held)
		}
		// Evict down to what leaves room for this and every other
		// reservation, and a tenth of the cap more (as a Commit's eviction
		// does) so that the next writes do not evict one object each.
		room := limit - inFlight - more
		target := room - limit/10
		if target < 0 {
			target = room
		}
		if err := d.Trim(context.WithoutCancel(w.ctx), target); err != nil {
			return fmt.Errorf("store: making room for %s: %w", w.key, err)
		}
	}
}
