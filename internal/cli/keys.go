package cli

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/apikeys"
	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/store"
)

func keysCommand() command {
	return command{
		name:         "keys",
		usesDatabase: true,
		args:         "create|ls|revoke [ID]",
		summary:      "create, list and revoke API keys",
		settings:     []string{"database-url", "log-level", "log-format"},
		help: `
Every API request but the health checks carries a key:
Authorization: Bearer kol_... . A key belongs to one user and sees only that
user's sources: the ones ` + "`kollektiv ingest`" + ` stored with the same --user
(KOLLEKTIV_USER, default "local"), and the ones sent through the API with a
key of that user. An admin key sees the same user's sources, no one else's,
and also opens River UI at /riverui/, which shows the jobs of every user.

  create  print a new key (once: only its hash is stored) for --user,
          default KOLLEKTIV_USER or "local", the CLI's own default user;
          --admin, --name and --expires (a duration such as 720h) are optional
  ls      list keys (--user to filter): id, user, prefix, admin, state
  revoke  revoke the key with the given id; it stops working at once`,
		example: `
kollektiv keys create --name laptop
kollektiv keys create --user alice --name laptop
kollektiv keys create --user ops --admin --expires 720h
kollektiv keys ls --user alice
kollektiv keys revoke 5b1f0c9e-2f7a-4d0e-9d51-3f0f4b3a8e21`,
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			user := fs.String("user", "", `create: the key's user (default KOLLEKTIV_USER, "local"); ls: only this user's keys`)
			name := fs.String("name", "", "create: a name to tell keys apart")
			admin := fs.Bool("admin", false, "create: the key may open River UI")
			expires := fs.Duration("expires", 0, "create: the key expires after this long (0: never)")
			return func(ctx context.Context, env Env, args []string) error {
				if err := checkSubcommand(args, "create", "ls", "revoke"); err != nil {
					return err
				}
				a, err := app.New(ctx, cfg, cfg.Logger(env.Stderr), app.Options{})
				if err != nil {
					return err
				}
				defer func() { _ = a.Stop(context.WithoutCancel(ctx)) }()
				switch args[0] {
				case "create":
					if len(args) != 1 {
						return fmt.Errorf("%w: keys create takes no arguments", errUsage)
					}
					p := apikeys.CreateParams{UserID: cmp.Or(*user, cfg.User), Name: *name, Admin: *admin}
					if *expires > 0 {
						at := time.Now().Add(*expires)
						p.ExpiresAt = &at
					}
					secret, key, err := apikeys.Create(ctx, a.Pool, p)
					if err != nil {
						return err
					}
					fmt.Fprintf(env.Stdout, "%s\n", secret)
					fmt.Fprint(env.Stderr, describeKey(key.ID, key.UserID, key.Admin))
					return nil
				case "ls":
					var filter *string
					if *user != "" {
						filter = user
					}
					keys, err := a.Queries.ListAPIKeys(ctx, filter)
					if err != nil {
						return fmt.Errorf("error listing keys: %w", err)
					}
					tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tUSER\tNAME\tPREFIX\tADMIN\tSTATE\tLAST USED")
					for _, k := range keys {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s…\t%v\t%s\t%s\n", k.ID, k.UserID, k.Name, k.Prefix, k.Admin, keyState(k), timeOrNever(k.LastUsedAt))
					}
					return tw.Flush()
				case "revoke":
					if len(args) != 2 {
						return fmt.Errorf("%w: keys revoke needs the key's id", errUsage)
					}
					id, err := uuid.Parse(args[1])
					if err != nil {
						return fmt.Errorf("%w: %q is not a key id", errUsage, args[1])
					}
					n, err := a.Queries.RevokeAPIKey(ctx, id)
					if err != nil {
						return fmt.Errorf("error revoking key: %w", err)
					}
					if n == 0 {
						return fmt.Errorf("no active key %s", id)
					}
					fmt.Fprintf(env.Stdout, "revoked %s\n", id)
					return nil
				}
				return nil
			}
		},
	}
}

// describeKey tells who a new key acts as, for stderr: stdout has the key
// alone, for scripts.
func describeKey(id uuid.UUID, user string, admin bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "key %s created; it is shown only this once.\n", id)
	fmt.Fprintf(&b, "It sees the sources of user %q: what `kollektiv ingest --user %s` (or KOLLEKTIV_USER=%s) stores, and what is sent to the API with a key of that user.\n", user, user, user)
	if admin {
		fmt.Fprintf(&b, "As an admin key it also opens River UI at /riverui/ (the jobs of every user); in the API it still sees user %q's sources only.\n", user)
	}
	return b.String()
}

func keyState(k store.APIKey) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.ExpiresAt != nil && time.Now().After(*k.ExpiresAt):
		return "expired"
	default:
		return "active"
	}
}

func timeOrNever(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format(time.RFC3339)
}
