//! Operation kinds, shared by metrics, retries and fault injection.
use object_store::GetOptions;

/// A storage operation as metrics, retries and faults see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Whole-object GET.
    Get,
    /// Ranged GET.
    GetRange,
    /// HEAD (metadata only).
    Head,
    /// PUT (single request or one multipart call).
    Put,
    /// DELETE of one object.
    Delete,
    /// LIST call (one per listing; pages are not visible through `object_store`).
    List,
    /// Server-side COPY.
    Copy,
}

impl Op {
    /// All operations, in exposition order.
    pub const ALL: [Op; 7] = [
        Op::Get,
        Op::GetRange,
        Op::Head,
        Op::Put,
        Op::Delete,
        Op::List,
        Op::Copy,
    ];

    /// Label value, following the thanos objstore operation names Loki exposes.
    pub fn label(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::GetRange => "get_range",
            Op::Head => "exists",
            Op::Put => "upload",
            Op::Delete => "delete",
            Op::List => "iter",
            Op::Copy => "copy",
        }
    }

    /// HTTP-style verb, for error messages and the cost table.
    pub fn verb(self) -> &'static str {
        match self {
            Op::Get | Op::GetRange => "GET",
            Op::Head => "HEAD",
            Op::Put => "PUT",
            Op::Delete => "DELETE",
            Op::List => "LIST",
            Op::Copy => "COPY",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn of_get(o: &GetOptions) -> Op {
        if o.head {
            Op::Head
        } else if o.range.is_some() {
            Op::GetRange
        } else {
            Op::Get
        }
    }
}
