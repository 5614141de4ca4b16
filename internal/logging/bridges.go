package logging

import (
	"context"
	"fmt"
	"log/slog"

	pionlog "github.com/pion/logging"
)

// Libraries' own log lines go through the server's slog logger, with the
// same redaction as ours and their levels mapped so that a normal run
// stays quiet: what a library calls info is our debug detail (pion's ICE
// state changes, NATS's start-up banner), its warnings and errors ours.
// Trace goes nowhere.

// emit logs one library line at level under the library's name.
func emit(log *slog.Logger, level slog.Level, lib, scope, msg string) {
	if !log.Enabled(context.Background(), level) {
		return
	}
	attrs := []any{"lib", lib}
	if scope != "" {
		attrs = append(attrs, "scope", scope)
	}
	log.Log(context.Background(), level, Redact(msg), attrs...)
}

// PionLoggers is a pion LoggerFactory writing to log
// (webrtc.SettingEngine.LoggerFactory).
func PionLoggers(log *slog.Logger) pionlog.LoggerFactory { return pionFactory{log} }

type pionFactory struct{ log *slog.Logger }

func (f pionFactory) NewLogger(scope string) pionlog.LeveledLogger {
	return pionLogger{log: f.log, scope: scope}
}

type pionLogger struct {
	log   *slog.Logger
	scope string
}

func (l pionLogger) at(level slog.Level, msg string) { emit(l.log, level, "pion", l.scope, msg) }

func (pionLogger) Trace(string)          {}
func (pionLogger) Tracef(string, ...any) {}
func (l pionLogger) Debug(msg string)    { l.at(slog.LevelDebug, msg) }
func (l pionLogger) Debugf(format string, args ...any) {
	l.at(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (l pionLogger) Info(msg string) { l.at(slog.LevelDebug, msg) }
func (l pionLogger) Infof(format string, args ...any) {
	l.at(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (l pionLogger) Warn(msg string) { l.at(slog.LevelWarn, msg) }
func (l pionLogger) Warnf(format string, args ...any) {
	l.at(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (l pionLogger) Error(msg string) { l.at(slog.LevelError, msg) }
func (l pionLogger) Errorf(format string, args ...any) {
	l.at(slog.LevelError, fmt.Sprintf(format, args...))
}

// NATSLogger is a NATS server Logger writing to log
// (server.SetLoggerV2).
func NATSLogger(log *slog.Logger) natsLogger { return natsLogger{log} }

type natsLogger struct{ log *slog.Logger }

func (l natsLogger) at(level slog.Level, format string, args []any) {
	emit(l.log, level, "nats", "", fmt.Sprintf(format, args...))
}

func (l natsLogger) Noticef(format string, v ...any) { l.at(slog.LevelDebug, format, v) }
func (l natsLogger) Warnf(format string, v ...any)   { l.at(slog.LevelWarn, format, v) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.at(slog.LevelError, format, v) }
func (l natsLogger) Errorf(format string, v ...any)  { l.at(slog.LevelError, format, v) }
func (l natsLogger) Debugf(format string, v ...any)  { l.at(slog.LevelDebug, format, v) }
func (natsLogger) Tracef(string, ...any)             {}
