from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tecopio.categories.models import Category


@dataclass
class CategoryTree:
    """The whole taxonomy, loaded in one query (it is small and read on many pages)."""

    roots: list[Category]
    children: dict[int, list[Category]]
    by_id: dict[int, Category]
    by_slug: dict[str, Category]

    def root_of(self, category: Category) -> Category:
        return self.by_id[category.root_id]

    def choices(self, locale: str) -> list[tuple[int, str, str]]:
        """(id, label, group label) for a select with one option group per top category."""
        options = []
        for root in self.roots:
            group = root.label(locale)
            options.append((root.id, group, group))
            for child in self.children.get(root.id, []):
                options.append((child.id, child.label(locale), group))
        return options


def load_tree(session: Session) -> CategoryTree:
    categories = list(session.scalars(select(Category).order_by(Category.position, Category.id)))
    roots = [c for c in categories if c.parent_id is None]
    children: dict[int, list[Category]] = {}
    for category in categories:
        if category.parent_id is not None:
            children.setdefault(category.parent_id, []).append(category)
    return CategoryTree(
        roots=roots,
        children=children,
        by_id={c.id: c for c in categories},
        by_slug={c.slug: c for c in categories},
    )
