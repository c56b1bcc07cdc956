package modfetch

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sync/semaphore"
)

// DefaultMetaBudget is the memory answers other than zips (.mod, .info,
// lists, checksum-database files) may take while they are read, beyond
// metaFree each, when Fetcher.MetaBudget is 0.
const DefaultMetaBudget = 16 << 20

// metaFree is how much of one answer is read without drawing on the
// budget: every honest .info, list and tile, and nearly every go.mod.
const metaFree = 64 << 10

// ErrMetaBudget is returned (wrapped) for an answer that grew past
// metaFree while other large answers held the whole budget. It is
// temporary: ask again.
var ErrMetaBudget = errors.New("too many large answers being read at once")

func (f *Fetcher) budget() *semaphore.Weighted {
	f.budgetOnce.Do(func() {
		f.budgetSize = f.MetaBudget
		if f.budgetSize <= 0 {
			f.budgetSize = DefaultMetaBudget
		}
		f.metaBudget = semaphore.NewWeighted(f.budgetSize)
	})
	return f.metaBudget
}

// readMeta reads an answer of at most MaxMetaSize bytes (size is its
// Content-Length, -1 if unknown). The buffer's growth beyond metaFree is
// taken from the Fetcher's budget without waiting: an answer that finds
// the budget spent fails with ErrMetaBudget, so that many large answers
// at once (a hostile upstream sending huge .mod files) cannot hold more
// than the budget between them.
func (f *Fetcher) readMeta(body io.Reader, size int64) ([]byte, error) {
	b := f.budget()
	var held int64
	defer func() {
		if held > 0 {
			b.Release(held)
		}
	}()
	take := func(total int64) error {
		if need := total - metaFree - held; need > 0 {
			if !b.TryAcquire(need) {
				return fmt.Errorf("%w (one needs %d bytes; %d in all)", ErrMetaBudget, total, f.budgetSize)
			}
			held += need
		}
		return nil
	}
	if size >= 0 {
		// Known size: one buffer, +1 to see the EOF.
		if err := take(size + 1); err != nil {
			return nil, err
		}
		buf := make([]byte, size+1)
		n, err := io.ReadFull(body, buf)
		switch {
		case err == io.ErrUnexpectedEOF || err == io.EOF:
			return buf[:n], nil
		case err != nil:
			return nil, err
		}
		return nil, errTooLarge
	}
	// Unknown size: chunks that grow to 1 MiB, joined at the end, so that
	// an endless answer holds no more than it has read (no copies left by
	// a growing buffer).
	var chunks [][]byte
	var total int64
	next := int64(4 << 10)
	for {
		if err := take(total + next); err != nil {
			return nil, err
		}
		c := make([]byte, next)
		n, err := io.ReadFull(body, c)
		chunks = append(chunks, c[:n])
		total += int64(n)
		if total > MaxMetaSize {
			return nil, errTooLarge
		}
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		next = min(next*2, 1<<20, MaxMetaSize+1-total)
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, nil
}

var errTooLarge = errors.New("answer too large")
