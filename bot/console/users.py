"""Console accounts from the command line: the first admin, and any account later.

    make user                                   # asks for everything (the first admin)
    python -m bot.console.users create --email ana@shop.example --name Ana \\
        --role agent --shops btomic            # the password is asked (or --password-stdin)
    python -m bot.console.users list
    python -m bot.console.users disable --email ana@shop.example
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.console.audit import audit
from bot.console.auth import hash_password, password_problem
from bot.db.console import ConsoleUser, ConsoleUserShop, Role
from bot.db.session import get_sessionmaker
from bot.errors import ConfigurationError
from bot.stores import store_ids


def known_shops() -> list[str]:
    """The shop ids accounts can be bound to (the store files)."""
    return list(store_ids())


def parse_shops(text: str) -> list[str]:
    """``"all"`` or a comma-separated list of shop ids, checked.

    Raises:
        ConfigurationError: an unknown shop id.
    """
    shops = known_shops()
    if text.strip().lower() == "all":
        return shops
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [shop for shop in chosen if shop not in shops]
    if unknown or not chosen:
        raise ConfigurationError(f"Unknown shop(s) {unknown or chosen}; known: {', '.join(shops)}")
    return chosen


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    role: Role,
    shops: Sequence[str],
    password: str,
    actor: str = "cli",
) -> ConsoleUser:
    """Creates an account bound to ``shops`` (the caller commits).

    Raises:
        ConfigurationError: a bad e-mail address, password or shop, or the address is taken.
    """
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise ConfigurationError(f"{email!r} is not an e-mail address")
    problem = password_problem(password)
    if problem:
        raise ConfigurationError(problem)
    if session.scalar(select(ConsoleUser.id).where(ConsoleUser.email == email)) is not None:
        raise ConfigurationError(f"An account for {email} already exists")
    user = ConsoleUser(
        email=email,
        name=name.strip()[:100] or email,
        role=role,
        password_hash=hash_password(password),
        active=True,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConfigurationError(f"An account for {email} already exists") from exc
    for shop in parse_shops(",".join(shops)):
        session.add(ConsoleUserShop(user_id=user.id, store_id=shop))
    audit(session, actor, "user.create", target=email, detail=f"{role.value}: {','.join(shops)}")
    return user


def _ask(prompt: str, default: str | None = None) -> str:
    answer = input(f"{prompt}{f' [{default}]' if default else ''}: ").strip()
    return answer or (default or "")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``create``, ``list``, ``disable``."""
    parser = argparse.ArgumentParser(prog="python -m bot.console.users")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create an account (asks what is not given)")
    create.add_argument("--email")
    create.add_argument("--name")
    create.add_argument("--role", choices=[role.value for role in Role])
    create.add_argument("--shops", help="comma-separated shop ids, or 'all'")
    create.add_argument("--password-stdin", action="store_true", help="read the password")
    sub.add_parser("list", help="list the accounts")
    disable = sub.add_parser("disable", help="disable an account (its sessions end)")
    disable.add_argument("--email", required=True)
    args = parser.parse_args(argv)

    sessions = get_sessionmaker()
    try:
        with sessions() as session:
            if args.command == "list":
                for user in session.scalars(select(ConsoleUser).order_by(ConsoleUser.email)):
                    shops = session.scalars(
                        select(ConsoleUserShop.store_id).where(ConsoleUserShop.user_id == user.id)
                    ).all()
                    state = "active" if user.active else "disabled"
                    print(f"{user.email}\t{user.role}\t{','.join(shops)}\t{state}")
                return 0
            if args.command == "disable":
                target = session.scalar(
                    select(ConsoleUser).where(ConsoleUser.email == args.email.strip().lower())
                )
                if target is None:
                    print(f"error: no account for {args.email}", file=sys.stderr)
                    return 1
                target.active = False
                audit(session, "cli", "user.disable", target=target.email)
                session.commit()
                print(f"Disabled {target.email}.")
                return 0
            email = args.email or _ask("E-mail address")
            name = args.name or _ask("Name", email.split("@")[0])
            role = Role(args.role or _ask("Role (agent, editor, admin)", "admin"))
            shops = parse_shops(
                args.shops or _ask(f"Shops ({', '.join(known_shops())} or all)", "all")
            )
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            else:
                password = getpass.getpass("Password (10 characters or more): ")
                if getpass.getpass("Password again: ") != password:
                    print("error: the two passwords differ", file=sys.stderr)
                    return 1
            create_user(session, email=email, name=name, role=role, shops=shops, password=password)
            session.commit()
            print(f"Created {role.value} {email.strip().lower()} for {', '.join(shops)}.")
            return 0
    except (ConfigurationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("\nerror: no account created (input ended)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
