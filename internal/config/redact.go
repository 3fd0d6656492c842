package config

import (
	"net/url"
	"strings"
)

// redact hides a secret value. A connection URL keeps everything but its
// password, so a reader can still tell which server is used.
func redact(name, value string) string {
	if value == "" {
		return ""
	}
	if strings.HasSuffix(name, "-url") {
		if redacted, ok := RedactURL(value); ok {
			return redacted
		}
	}
	return "xxxxx"
}

// RedactURL replaces the password of a URL (user info or a password query
// parameter) and reports whether value was a URL at all.
func RedactURL(value string) (string, bool) {
	u, err := url.Parse(value)
	if err != nil || u.Scheme == "" {
		return "", false
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String(), true
}
