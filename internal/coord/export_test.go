package coord

import "context"

// RawReply sends one command to the Redis at url (tests).
func RawReply(url string, args ...any) (any, error) {
	o, err := parseRedisURL(url)
	if err != nil {
		return nil, err
	}
	c := &respClient{o: o}
	defer c.Close()
	return c.Do(context.Background(), args...)
}

// RawDo is RawReply for a command whose reply does not matter.
func RawDo(url string, args ...any) error {
	_, err := RawReply(url, args...)
	return err
}

// EntryBytes is the size of l's entries' values.
func (l *Local) EntryBytes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes
}

const MaxLocalBytes = maxLocalBytes
