"""The record of what the sync manages, keyed by Google's immutable ids.

AWS gives objects created through the Identity Store API no marker of their creator, so this
record is the only proof of ownership: the sync modifies or deletes nothing that is not in it.
If it is lost, the next run rebuilds it by adoption and deletes nothing.
"""

from sync.model import State
from sync.records.documents import Document, document_at


class StateStore:
    """Where the state lives between runs: a local file or an S3 object."""

    def __init__(self, document: Document) -> None:
        self._document = document

    def load(self) -> State:
        text = self._document.read()
        return State() if text is None else State.from_json(text, self._document.location)

    def save(self, state: State) -> None:
        self._document.write(state.to_json())


def state_store_for(location: str) -> StateStore:
    return StateStore(document_at(location))
