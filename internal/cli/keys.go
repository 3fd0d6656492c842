package cli

import (
	"context"
	"flag"
	"fmt"
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
user's sources; an admin key also opens River UI at /riverui/.

  create  print a new key for --user (once: only its hash is stored);
          --admin, --name and --expires (a duration such as 720h) are optional
  ls      list keys (--user to filter): id, user, prefix, admin, state
  revoke  revoke the key with the given id; it stops working at once`,
		example: `
kollektiv keys create --user alice --name laptop
kollektiv keys create --user ops --admin --expires 720h
kollektiv keys ls --user alice
kollektiv keys revoke 5b1f0c9e-2f7a-4d0e-9d51-3f0f4b3a8e21`,
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			user := fs.String("user", "", "create: the key's user (required); ls: only this user's keys")
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
					if *user == "" || len(args) != 1 {
						return fmt.Errorf("%w: keys create needs --user and no arguments", errUsage)
					}
					p := apikeys.CreateParams{UserID: *user, Name: *name, Admin: *admin}
					if *expires > 0 {
						at := time.Now().Add(*expires)
						p.ExpiresAt = &at
					}
					secret, key, err := apikeys.Create(ctx, a.Pool, p)
					if err != nil {
						return err
					}
					fmt.Fprintf(env.Stdout, "%s\n", secret)
					fmt.Fprintf(env.Stderr, "key %s for user %s created; it is shown only this once\n", key.ID, key.UserID)
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
