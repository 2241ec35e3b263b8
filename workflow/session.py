"""Lab, subject and session tables upstream of the imaging schema."""

import datajoint as dj

schema = dj.Schema()


@schema
class Subject(dj.Manual):
    definition = """
    subject: varchar(64)
    ---
    sex='U': enum('M', 'F', 'U')
    subject_birth_date=null: date
    subject_description='': varchar(1024)
    """


@schema
class Session(dj.Manual):
    definition = """
    -> Subject
    session_datetime: datetime(3)
    ---
    session_note='': varchar(2048)
    """


@schema
class Equipment(dj.Lookup):
    definition = """
    equipment: varchar(64)          # acquisition device, e.g. a Miniscope model or a microscope
    ---
    modality: enum('one-photon', 'two-photon')
    equipment_description='': varchar(1024)
    """
    contents = [
        {"equipment": name, "modality": modality, "equipment_description": description}
        for name, modality, description in (
            ("Miniscope-V3", "one-photon", "UCLA Miniscope V3"),
            ("Miniscope-V4", "one-photon", "UCLA Miniscope V4"),
            ("Two-photon microscope", "two-photon", "laser-scanning two-photon microscope"),
            ("Inscopix miniscope", "one-photon", "Inscopix nVista / nVoke head-mounted microscope"),
        )
    ]


@schema
class AnatomicalLocation(dj.Lookup):
    definition = """
    recording_location_id: varchar(16)
    ---
    anatomical_description='': varchar(256)
    """
