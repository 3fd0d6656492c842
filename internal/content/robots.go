package content

import (
	"strings"
)

// robotsRules are the Allow and Disallow lines of the robots.txt group that
// applies to our user agent.
type robotsRules struct {
	rules []robotsRule
}

type robotsRule struct {
	allow   bool
	pattern string
}

// parseRobots reads robots.txt and keeps the group for userAgent (matched
// by its product name, case-insensitively), else the "*" group.
func parseRobots(body, userAgent string) *robotsRules {
	product := strings.ToLower(userAgent)
	if i := strings.IndexAny(product, "/ "); i >= 0 {
		product = product[:i]
	}
	var (
		specific, star []robotsRule
		foundSpecific  bool
		agents         []string
		inRules        bool
		current        []robotsRule
	)
	flush := func() {
		for _, a := range agents {
			switch {
			case a == "*":
				star = append(star, current...)
			case product != "" && strings.Contains(product, a):
				specific = append(specific, current...)
				foundSpecific = true
			}
		}
	}
	for line := range strings.SplitSeq(body, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key = strings.ToLower(strings.TrimSpace(key))
		value = strings.TrimSpace(value)
		switch key {
		case "user-agent":
			if inRules {
				flush()
				agents, current, inRules = nil, nil, false
			}
			agents = append(agents, strings.ToLower(value))
		case "allow", "disallow":
			inRules = true
			if value == "" {
				continue // "Disallow:" with nothing allows everything
			}
			current = append(current, robotsRule{allow: key == "allow", pattern: value})
		}
	}
	flush()
	if foundSpecific {
		return &robotsRules{rules: specific}
	}
	return &robotsRules{rules: star}
}

// allows applies the longest matching rule; Allow wins a tie.
func (r *robotsRules) allows(p string) bool {
	if p == "" {
		p = "/"
	}
	best, allowed := -1, true
	for _, rule := range r.rules {
		if robotsMatch(rule.pattern, p) {
			if n := len(rule.pattern); n > best || (n == best && rule.allow) {
				best, allowed = n, rule.allow
			}
		}
	}
	return allowed
}

// robotsMatch matches a robots.txt path pattern: a prefix, where "*" matches
// any run of characters and a final "$" anchors the end.
func robotsMatch(pattern, p string) bool {
	anchored := strings.HasSuffix(pattern, "$")
	pattern = strings.TrimSuffix(pattern, "$")
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(p, parts[0]) {
		return false
	}
	rest := p[len(parts[0]):]
	for _, part := range parts[1:] {
		i := strings.Index(rest, part)
		if i < 0 {
			return false
		}
		rest = rest[i+len(part):]
	}
	if anchored {
		last := parts[len(parts)-1]
		return rest == "" || (len(parts) > 1 && strings.HasSuffix(p, last))
	}
	return true
}
