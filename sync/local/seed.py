"""The demo directory: a startup of about 35 people, like the companies this product is for."""

from sync.local.google_directory import GoogleDirectoryEmulator

DOMAIN = "example.com"

PEOPLE = {
    # email local part: (given name, family name, groups)
    "maya.chen": ("Maya", "Chen", ["founders", "aws-admins", "engineering"]),
    "omar.haddad": ("Omar", "Haddad", ["founders", "aws-admins"]),
    "lena.novak": ("Lena", "Novak", ["backend", "sandbox-users"]),
    "ravi.iyer": ("Ravi", "Iyer", ["backend", "sandbox-users"]),
    "sofia.rossi": ("Sofia", "Rossi", ["backend", "sandbox-users"]),
    "tom.becker": ("Tom", "Becker", ["backend"]),
    "aisha.bello": ("Aisha", "Bello", ["backend", "sandbox-users"]),
    "jonas.berg": ("Jonas", "Berg", ["backend"]),
    "mei.tanaka": ("Mei", "Tanaka", ["backend", "sandbox-users"]),
    "diego.ruiz": ("Diego", "Ruiz", ["backend"]),
    "nina.petrov": ("Nina", "Petrov", ["frontend", "sandbox-users"]),
    "sam.oconnor": ("Sam", "O'Connor", ["frontend"]),
    "yara.saleh": ("Yara", "Saleh", ["frontend", "sandbox-users"]),
    "liam.walsh": ("Liam", "Walsh", ["frontend"]),
    "zoe.martin": ("Zoe", "Martin", ["frontend"]),
    "kenji.sato": ("Kenji", "Sato", ["engineering", "sandbox-users"]),
    "priya.nair": ("Priya", "Nair", ["data-science", "sensitive-data"]),
    "lucas.silva": ("Lucas", "Silva", ["data-science", "sensitive-data"]),
    "hana.kim": ("Hana", "Kim", ["data-science"]),
    "felix.wagner": ("Felix", "Wagner", ["data-science", "sandbox-users"]),
    "amara.okafor": ("Amara", "Okafor", ["data-science"]),
    "ben.cohen": ("Ben", "Cohen", ["data-science"]),
    "ines.moreau": ("Ines", "Moreau", ["sensitive-data"]),
    "paul.jensen": ("Paul", "Jensen", ["marketing"]),
    "clara.fischer": ("Clara", "Fischer", ["marketing"]),
    "ivan.horvat": ("Ivan", "Horvat", ["marketing"]),
    "julia.santos": ("Julia", "Santos", ["sales"]),
    "marco.bianchi": ("Marco", "Bianchi", ["sales"]),
    "emma.dubois": ("Emma", "Dubois", ["sales"]),
    "noah.schmidt": ("Noah", "Schmidt", ["people-ops"]),
    "olivia.brown": ("Olivia", "Brown", ["people-ops"]),
    "ahmed.ali": ("Ahmed", "Ali", ["finance"]),
    "grace.lee": ("Grace", "Lee", ["finance"]),
    "eric.larsen": ("Eric", "Larsen", ["backend", "sandbox-users"]),  # suspended below
}
SUSPENDED = {"eric.larsen"}
GROUPS = {
    "founders": "Founders",
    "aws-admins": "AWS administrators",
    "engineering": "Engineering",
    "backend": "Backend engineers",
    "frontend": "Frontend engineers",
    "data-science": "Data science",
    "sandbox-users": "Engineers with a personal sandbox account",
    "sensitive-data": "Access to the sensitive-data account",
    "marketing": "Marketing",
    "sales": "Sales",
    "people-ops": "People operations",
    "finance": "Finance",
}
CONTRACTOR = "dev@contractor.example.net"
DEPARTMENTS = {
    # group: (department, cost center, manager's local part)
    "founders": ("Leadership", "CC-100", None),
    "backend": ("Engineering", "CC-200", "kenji.sato"),
    "frontend": ("Engineering", "CC-200", "kenji.sato"),
    "engineering": ("Engineering", "CC-200", "maya.chen"),
    "data-science": ("Data", "CC-300", "maya.chen"),
    "sensitive-data": ("Data", "CC-300", "maya.chen"),
    "marketing": ("Marketing", "CC-400", "omar.haddad"),
    "sales": ("Sales", "CC-500", "omar.haddad"),
    "people-ops": ("People", "CC-600", "omar.haddad"),
    "finance": ("Finance", "CC-700", "omar.haddad"),
}


def seed_demo_directory(google: GoogleDirectoryEmulator) -> None:
    for name, description in GROUPS.items():
        google.add_group(f"{name}@{DOMAIN}", description)
    for local, (given, family, groups) in PEOPLE.items():
        email = f"{local}@{DOMAIN}"
        google.add_user(email, given, family, suspended=local in SUSPENDED)
        for group in groups:
            google.add_member(f"{group}@{DOMAIN}", email)
        _profile(google, email, groups, len(google.users))
    # engineering@ contains the backend@ and frontend@ groups: nested membership.
    google.add_member(f"engineering@{DOMAIN}", f"backend@{DOMAIN}")
    google.add_member(f"engineering@{DOMAIN}", f"frontend@{DOMAIN}")
    # The group owner counts as a member too.
    google.add_member(f"data-science@{DOMAIN}", f"maya.chen@{DOMAIN}", role="OWNER")
    # A contractor with an outside address: skipped, with a warning.
    google.add_member(f"backend@{DOMAIN}", CONTRACTOR)


def _profile(google: GoogleDirectoryEmulator, email: str, groups: list[str], number: int) -> None:
    """The HR fields an Admin console holds: department and cost center (of the person's
    first group that has one), employee number, manager."""
    department, cost_center, manager = next(DEPARTMENTS[g] for g in groups if g in DEPARTMENTS)
    google.set_profile(
        email,
        organizations=[{"primary": True, "department": department, "costCenter": cost_center}],
        externalIds=[{"type": "organization", "value": f"E{number:04}"}],
        relations=[{"type": "manager", "value": f"{manager}@{DOMAIN}"}] if manager else None,
    )
