package service

import (
	"fmt"
	"io"
	"log/slog"
)

// LogFormats lists the values NewLogger accepts, for flag help.
const LogFormats = "text|json"

// NewLogger returns a logger writing format ("text", the default when
// empty, or "json") to w at Info level, for the services' --log-format
// flag. An unknown format is a one-line error naming the valid ones.
func NewLogger(format string, w io.Writer) (*slog.Logger, error) {
	return NewLoggerLevel(format, w, slog.LevelInfo)
}

// NewLoggerLevel is NewLogger with a minimum level; slog.LevelWarn, for
// instance, turns the per-request access log off.
func NewLoggerLevel(format string, w io.Writer, level slog.Leveler) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad log format %q: want text or json", format)
}
