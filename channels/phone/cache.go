package phone

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// configTTL is how long the hotline keeps what it read of the
// configuration (numbers and menus, sites, queues' names and hours): a
// call's wait then holds no configuration reads, and an admin's change
// reaches calls within this time.
const configTTL = 5 * time.Second

// configCache remembers configuration reads for configTTL. Failures other
// than "not found" are not remembered.
type configCache struct {
	mu      sync.Mutex
	entries map[string]cacheEntry
	now     func() time.Time
}

type cacheEntry struct {
	v     any
	err   error
	until time.Time
}

// maxCacheEntries bounds the cache: telephony that sends endless distinct
// dialled numbers must not grow it without end.
const maxCacheEntries = 10000

func (c *configCache) get(key string, load func() (any, error)) (any, error) {
	now := c.now()
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && now.Before(e.until) {
		c.mu.Unlock()
		return e.v, e.err
	}
	c.mu.Unlock()
	v, err := load()
	if err != nil && !errors.Is(err, org.ErrNotFound) {
		return v, err
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxCacheEntries {
		c.entries = map[string]cacheEntry{}
	}
	c.entries[key] = cacheEntry{v: v, err: err, until: now.Add(configTTL)}
	c.mu.Unlock()
	return v, err
}

// number is the hotline number a call to dialled reached on c.
func (s *Service) number(ctx context.Context, c Connector, dialled string) (org.PhoneNumber, error) {
	v, err := s.cache.get("n:"+c.ID.String()+":"+dialled, func() (any, error) {
		return s.lines.PhoneNumberFor(ctx, c.TenantID, c.ID, numberForms(dialled))
	})
	if errors.Is(err, org.ErrNotFound) {
		return org.PhoneNumber{}, ErrNoNumber
	} else if err != nil {
		return org.PhoneNumber{}, err
	}
	return v.(org.PhoneNumber), nil
}

func (s *Service) site(ctx context.Context, tenant, id uuid.UUID) (org.Site, error) {
	v, err := s.cache.get(strings.Join([]string{"s", tenant.String(), id.String()}, ":"), func() (any, error) {
		return s.lines.Site(ctx, tenant, id)
	})
	if err != nil {
		return org.Site{}, err
	}
	return v.(org.Site), nil
}

func (s *Service) queue(ctx context.Context, tenant, id uuid.UUID) (org.Queue, error) {
	v, err := s.cache.get(strings.Join([]string{"q", tenant.String(), id.String()}, ":"), func() (any, error) {
		return s.lines.Queue(ctx, tenant, id)
	})
	if err != nil {
		return org.Queue{}, err
	}
	return v.(org.Queue), nil
}
